"""Run the WSGI app on waitress, and stop gracefully: stop accepting, drain, close."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import waitress
from waitress import wasyncore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class GracefulServer:
    """A waitress server whose event loop we drive, so shutdown can drain in-flight requests."""

    def __init__(self, app: Any, *, host: str, port: int, threads: int, max_body_bytes: int) -> None:
        self._server = waitress.create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            # Ours answers 413 with a JSON error; waitress's own limit only stops abuse early.
            max_request_body_size=max_body_bytes,
            connection_limit=1000,
            channel_timeout=30,
            ident="netchecker-exporter",
            asyncore_use_poll=True,  # select() fails beyond 1024 descriptors
            expose_tracebacks=False,
        )

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def serve_until(self, stop: threading.Event, *, drain_seconds: float = 3.0) -> None:
        """Serve until `stop` is set, then finish in-flight requests for up to `drain_seconds`."""
        server_map = self._server._map
        while not stop.is_set():
            wasyncore.loop(timeout=POLL_SECONDS, map=server_map, use_poll=True, count=1)
        log.info("stopping: no new connections; draining in-flight requests")
        wasyncore.dispatcher.close(self._server)  # the listening socket only
        deadline = time.monotonic() + drain_seconds
        while self._busy_channels() and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=server_map, use_poll=True, count=1)
        self._server.close()
        wasyncore.close_all(server_map)
        self._server.task_dispatcher.shutdown(timeout=1)

    def _busy_channels(self) -> int:
        """Connections with a request being received or served, or a response not yet sent."""
        channels = self._server.active_channels.values()
        return sum(
            1 for channel in channels if channel.request or channel.requests or channel.total_outbufs_len
        )
