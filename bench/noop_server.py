"""The ceiling: the same waitress server (GracefulServer, same thread count) with a no-op WSGI app.

It reads the body, as ours must, and answers 200 with an empty body: what the server costs
before bottle, JSON, validation and the store do anything.
`python -m bench.noop_server PORT`
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from netchecker_exporter.cli import SERVER_THREADS
from netchecker_exporter.serve import GracefulServer

READ_LIMIT_BYTES = 1 << 20


def noop_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(min(length, READ_LIMIT_BYTES))
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")])
    return [b""]


def main(argv: list[str]) -> int:
    port = int(argv[0]) if argv else 8082
    server = GracefulServer(
        noop_app, host="127.0.0.1", port=port, threads=SERVER_THREADS, max_body_bytes=READ_LIMIT_BYTES
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.serve_until(stop, drain_seconds=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
