"""Run a WSGI app behind granian's RSGI interface: bodies received on the event loop, apps on threads.

Why not granian's own WSGI mode: it calls the app as soon as the headers are in, and the app's
`wsgi.input.read()` then blocks a thread for as long as the client trickles the body (forever: no
body timeout), so 1,500 slow bodies would hold every thread. Here the body is awaited on the event
loop, bounded in time and size, before any thread is used; reports and reads use separate pools so
/healthz and /metrics never queue behind ingest.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from netchecker_exporter.loop_handoff import HandoffPool

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
STREAM_BLOCK_BYTES = 1 << 20
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
TIMEOUT_BODY = b'{"error": "request body not received in time"}'
JSON_CLOSE = [("content-type", "application/json"), ("connection", "close")]


@dataclass(frozen=True, slots=True)
class BridgeLimits:
    max_body_bytes: int
    """Larger bodies are not read: the app sees the declared length (or limit + 1 bytes) and refuses."""
    body_read_timeout_seconds: float
    """From the end of the headers to the last body byte; then 408 and the connection is closed."""


class FileBody:
    """wsgi.file_wrapper: a file the loop streams in blocks instead of joining it in memory."""

    def __init__(self, file: Any, block_size: int = STREAM_BLOCK_BYTES) -> None:
        self.file, self.block_size = file, block_size

    def __iter__(self) -> Any:
        return iter(lambda: self.file.read(self.block_size), b"")

    def close(self) -> None:
        self.file.close()


@dataclass(slots=True)
class WsgiResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | FileBody


class WsgiBridge:
    """The RSGI callable granian serves: one WSGI app, two thread pools (ingest and the rest).

    `ingest=None` runs POSTs on the event loop itself (two thread handoffs fewer per report, for an
    app whose writes never block); reads stay on their pool either way.
    """

    def __init__(
        self, app: WsgiApp, *, ingest: HandoffPool | None, reads: HandoffPool, limits: BridgeLimits
    ) -> None:
        self._app, self._ingest, self._reads, self._limits = app, ingest, reads, limits

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        try:
            async with asyncio.timeout(self._limits.body_read_timeout_seconds):
                body, declared = await self._receive(scope, proto)
        except TimeoutError:
            proto.response_bytes(408, JSON_CLOSE, TIMEOUT_BODY)
            return
        pool = self._ingest if scope.method in BODY_METHODS else self._reads
        if pool is None:
            result = self._call(scope, body, declared)
        else:
            result = await pool.run(self._call, scope, body, declared)
        if isinstance(result.body, FileBody):
            await _stream(proto, result.status, result.headers, result.body)
        else:
            proto.response_bytes(result.status, result.headers, result.body)

    async def _receive(self, scope: Any, proto: Any) -> tuple[bytes, str | None]:
        """The body, or none when the declared length is over the limit (the app refuses it unread)."""
        declared = scope.headers.get("content-length")
        chunked = "chunked" in scope.headers.get("transfer-encoding", "").lower()
        if declared is None and not chunked:
            return (await proto() if scope.method in BODY_METHODS else b""), None
        if declared is not None and declared.isdigit() and int(declared) > self._limits.max_body_bytes:
            return b"", declared
        if declared is not None:
            return await proto(), declared
        return await self._receive_chunked(proto), None

    async def _receive_chunked(self, proto: Any) -> bytes:
        """At most limit + 1 bytes of a chunked body: enough for the app to see it is too large."""
        parts, size, cap = [], 0, self._limits.max_body_bytes + 1
        async for chunk in proto:
            parts.append(chunk)
            size += len(chunk)
            if size >= cap:
                break
        return b"".join(parts)[:cap]

    def _call(self, scope: Any, body: bytes, declared: str | None) -> WsgiResult:
        """Run the app (on a pool thread, or on the loop for inline ingest); collect its answer."""
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [int(status[:3]), headers]
            return None

        iterable = self._app(wsgi_environ(scope, body, declared), start_response)
        if isinstance(iterable, FileBody):
            return WsgiResult(started[0], started[1], iterable)
        try:
            content = b"".join(iterable)
        finally:
            getattr(iterable, "close", lambda: None)()
        return WsgiResult(started[0], started[1], content)


async def _stream(proto: Any, status: int, headers: list[tuple[str, str]], body: FileBody) -> None:
    """A file body (the /metrics exposition) sent block by block from the loop, never joined."""
    transport = proto.response_stream(status, headers)
    try:
        for block in body:
            await transport.send_bytes(block)
    finally:
        body.close()


def wsgi_environ(scope: Any, body: bytes, declared: str | None) -> dict[str, Any]:
    """PEP 3333's environ from an RSGI scope.

    granian has percent-decoded the path already (invalid UTF-8 became U+FFFD, so no escape can
    turn into another route); WSGI wants those bytes as a latin-1 str. RSGI gives no raw URI, so
    there is no REQUEST_URI.
    """
    host, _, port = scope.server.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": scope.client.rpartition(":")[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileBody,
    }
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        key = key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if declared is not None:
        environ["CONTENT_LENGTH"] = declared
    elif body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ
