"""Run a WSGI app behind granian's RSGI interface: bodies received on the event loop, apps on threads.

Why not granian's own WSGI mode: it calls the app as soon as the headers are in, and the app's
`wsgi.input.read()` then blocks a thread for as long as the client trickles the body (forever: no
body timeout), so 1,500 slow bodies would hold every thread. Here the body is received first,
bounded in time and size, before any thread is used; reports and reads use separate pools so
/healthz and /metrics never queue behind ingest.

granian's thread calls `dispatch` with each request (granian_dispatch): the probes, the agents'
ping and every POST with a declared length are answered without the event loop (direct_post);
the rest runs as a Task on the loop (`__rsgi__`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from netchecker_exporter.http.body_deadlines import BodyDeadlines
from netchecker_exporter.http.direct_post import JSON_CLOSE, TIMEOUT_BODY, PostRoute, start_post
from netchecker_exporter.http.front_admission import HEAVY_PATHS, FrontAdmission, Refusal
from netchecker_exporter.http.granian_dispatch import Dispatch, on_loop, watched
from netchecker_exporter.http.health import HEALTH_PATHS, HealthEndpoints
from netchecker_exporter.http.loop_handoff import HandoffPool
from netchecker_exporter.http.piped_response import (
    GRANIAN_HELD_BYTES,
    PIPED_MIN_BYTES,
    PipeOutcome,
    PipePump,
    Unbudgeted,
    file_views,
    piece_views,
    pipe_capacity_bytes,
    pipes_usable,
    start_piped,
)
from netchecker_exporter.http.stale_bodies import StaleBodies

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
STREAM_BLOCK_BYTES = 1 << 20
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
READ_METHODS = frozenset({"GET", "HEAD"})
JSON_HEADERS = [("content-type", "application/json")]
PING_PATH = "/api/v1/ping"
PING_HEADERS = [("content-type", "text/plain; charset=utf-8")]
"""What bottle answers GET /api/v1/ping with (api.EMPTY_OK), which the bridge answers itself."""
PING_CLOSE = [*PING_HEADERS, ("connection", "close")]


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


@dataclass(frozen=True, slots=True)
class Chunks:
    """An app's answer in several parts (shared, immutable bytes): sent part by part, never joined."""

    parts: tuple[bytes, ...]


@dataclass(slots=True)
class WsgiResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | Chunks | FileBody


class WsgiBridge:
    """The RSGI callable granian serves: one WSGI app, two thread pools (ingest and the rest).

    `ingest=None` runs POSTs on granian's thread itself (a thread handoff fewer per report, for an
    app whose writes never block); reads stay on their pool either way. With `health`, /healthz and
    /readyz are answered at once, before any budget or pool; with `admission`, every other
    request passes the front's budgets first (front_admission).
    """

    def __init__(  # noqa: PLR0913 (keyword-only dependencies, each passed in by front.py or a test)
        self,
        app: WsgiApp,
        *,
        ingest: HandoffPool | None,
        reads: HandoffPool,
        limits: BridgeLimits,
        health: HealthEndpoints | None = None,
        admission: FrontAdmission | None = None,
    ) -> None:
        self._app, self._ingest, self._reads, self._limits = app, ingest, reads, limits
        self._health, self._admission = health, admission
        capacity = pipe_capacity_bytes() if pipes_usable() else None
        self._pipe_block_bytes = capacity or STREAM_BLOCK_BYTES
        self._pipe_held_bytes = None if capacity is None else capacity + GRANIAN_HELD_BYTES
        """What one piped response holds; None: no pipes here, responses go to granian's buffers."""
        self._stale = StaleBodies()
        self._deadlines = BodyDeadlines(limits.body_read_timeout_seconds)
        self._posts = PostRoute(
            self._call, self._send_on_loop, ingest, admission, self._deadlines, limits.max_body_bytes
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()
        """Answers of direct POSTs being sent from the loop (a Task must be referenced to run)."""

    def dispatch_for(self, loop: asyncio.AbstractEventLoop) -> Dispatch:
        """granian_dispatch's hook, on `loop` as granian's worker starts: the per-request call."""
        self._loop = loop
        loop.call_soon(self._sweep_bodies)
        return self.dispatch

    def dispatch(self, watcher: Any) -> None:
        """On granian's thread, each request: answered here, or handed to the loop as a Task.

        granian calls this through the C API and ignores what it returns, so nothing may escape
        (an exception left set would surface in whatever Python runs next on its thread)."""
        try:
            self._dispatch(watcher)
        except Exception:
            log.exception("dispatching a request failed")
            watcher.proto.response_empty(500, [])

    def _dispatch(self, watcher: Any) -> None:
        scope = watcher.scope
        method = scope.method
        if method in BODY_METHODS:
            declared = scope.headers.get("content-length")
            if declared is not None and declared.isdigit():
                start_post(self._posts, scope, watcher.proto, declared)
                return
        elif method in READ_METHODS and self._answered_at_once(scope, watcher.proto):
            return
        assert self._loop is not None
        on_loop(self._loop, watcher, watched(self.__rsgi__, watcher))

    def _answered_at_once(self, scope: Any, proto: Any) -> bool:
        """The probes and the agents' ping: constant or published answers, so no thread and no bottle."""
        path = scope.path
        if self._health is not None and path in HEALTH_PATHS:
            answer = self._health.answer(path)
            proto.response_bytes(answer.status, JSON_HEADERS, answer.body)
            return True
        admission = self._admission
        if path != PING_PATH or admission is None:
            return False
        peer = scope.client
        verdict = admission.connection(peer)
        if isinstance(verdict, Refusal):
            proto.response_bytes(verdict.status, verdict.headers(), verdict.body)
            return True
        closing = verdict or "close" in scope.headers.get("connection", "").lower()
        # The agents' probe of us, thousands a second.
        proto.response_bytes(200, PING_CLOSE if closing else PING_HEADERS, b"")
        admission.connection_done(peer, closing=closing)
        return True

    def _sweep_bodies(self) -> None:
        """On the loop: cancel the direct POSTs' bodies past their deadline (each then answers 408)."""
        for body in self._deadlines.expired(time.monotonic()):
            body.cancel()
        assert self._loop is not None
        self._loop.call_later(self._deadlines.sweep_every_seconds, self._sweep_bodies)

    def _send_on_loop(self, proto: Any, result: WsgiResult, scope: Any, then: Callable[[], None]) -> None:
        """From any thread: send `result` from the loop (a file, chunks, a body to pipe), then `then()`."""

        async def send() -> None:
            try:
                await self._send(proto, result, scope)
            finally:
                then()

        def start() -> None:
            task = asyncio.get_running_loop().create_task(send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

        assert self._loop is not None
        self._loop.call_soon_threadsafe(start)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if self._health is not None and scope.path in HEALTH_PATHS and scope.method in READ_METHODS:
            answer = self._health.answer(scope.path)
            proto.response_bytes(answer.status, JSON_HEADERS, answer.body)
            return
        admission = self._admission
        if admission is None:
            await self._serve(scope, proto, closing=False)
            return
        peer = scope.client
        verdict = admission.connection(peer)
        if isinstance(verdict, Refusal):
            proto.response_bytes(verdict.status, verdict.headers(), verdict.body)
            return
        closing = verdict or "close" in scope.headers.get("connection", "").lower()
        if scope.path == PING_PATH and scope.method in READ_METHODS:
            proto.response_bytes(200, PING_CLOSE if closing else PING_HEADERS, b"")
            admission.connection_done(peer, closing=closing)
            return
        try:
            await self._serve(scope, proto, closing=closing)
        finally:
            admission.connection_done(peer, closing=closing)

    async def _serve(self, scope: Any, proto: Any, *, closing: bool) -> None:
        admission = self._admission
        heavy = admission is not None and scope.method in READ_METHODS and scope.path in HEAVY_PATHS
        if heavy and admission is not None and (refusal := admission.start_heavy_read()) is not None:
            proto.response_bytes(refusal.status, refusal.headers(), refusal.body)
            return
        reserved = self._body_reservation(scope) if admission is not None else 0
        host = scope.client.rpartition(":")[0]
        if admission is not None and (refusal := admission.reserve_bytes(reserved, host)):
            if heavy:
                admission.end_heavy_read()
            proto.response_bytes(refusal.status, refusal.headers(), refusal.body)
            return
        try:
            reply = await self._answer(scope, proto, closing=closing)
        finally:  # the answer is made: the body's bytes and the heavy-read slot are free again
            if admission is not None:
                admission.release_bytes(reserved, host)
                if heavy:
                    admission.end_heavy_read()
        if reply is not None:
            await self._send(proto, reply, scope)

    async def _answer(self, scope: Any, proto: Any, *, closing: bool) -> WsgiResult | None:
        """The app's answer, or None when the front has answered already (the body came too late)."""
        try:
            async with asyncio.timeout(self._limits.body_read_timeout_seconds):
                body, declared = await self._receive(scope, proto)
        except TimeoutError:
            proto.response_bytes(408, JSON_CLOSE, TIMEOUT_BODY)
            return None
        pool = self._ingest if scope.method in BODY_METHODS else self._reads
        if pool is None:
            result = self._call(scope, body, declared)
        else:
            result = await pool.run(self._call, scope, body, declared)
        del body  # the reservation ends with the caller; the bytes must not outlive it
        if closing:
            result.headers = [*result.headers, ("connection", "close")]
        return result

    async def _send(self, proto: Any, result: WsgiResult, scope: Any) -> None:
        """Small answers go to granian whole; large ones through a pipe, their held bytes reserved."""
        size = _body_size(result)
        if self._pipe_held_bytes is None or (size is not None and size < PIPED_MIN_BYTES):
            await self._send_unpiped(proto, result)
            return
        body, host = result.body, scope.client.rpartition(":")[0]
        held = self._pipe_held_bytes + (len(body) if isinstance(body, bytes) else 0)
        admission = self._admission
        if admission is not None:
            held = admission.response_charge(held, host)
            if refusal := admission.reserve_response_bytes(held, host):
                if isinstance(body, FileBody):
                    body.close()
                proto.response_bytes(refusal.status, refusal.headers(), refusal.body)
                return
        budget = Unbudgeted() if admission is None else _HostBudget(admission, host)
        pump = start_piped(proto, result.status, result.headers, budget)
        done = self._watch_staleness(scope.path, result, pump)
        try:
            if await pump.run(self._pieces(body)) is PipeOutcome.CUT and admission is not None:
                admission.count_stale_cut()
        finally:
            done()
            if admission is not None:
                admission.release_bytes(held, host)
            if isinstance(body, FileBody):
                body.close()

    def _watch_staleness(self, path: str, result: WsgiResult, pump: PipePump) -> Callable[[], None]:
        """A shared body (a file over the renders' chunks) is cut once outdated (stale_bodies)."""
        shared = _shared_body(result.body)
        if shared is None:
            return lambda: None
        headers = {name.lower(): value for name, value in result.headers}
        kind = (path, headers.get("content-type"), headers.get("content-encoding"))
        return self._stale.reading(kind, shared, pump.cut)

    def _pieces(self, body: bytes | Chunks | FileBody) -> Iterator[memoryview]:
        if isinstance(body, FileBody):
            parts = getattr(body.file, "parts", None)  # chunks in memory: written out without a copy
            return iter(parts) if parts is not None else file_views(body.file, self._pipe_block_bytes)
        return piece_views(body.parts if isinstance(body, Chunks) else (body,))

    async def _send_unpiped(self, proto: Any, result: WsgiResult) -> None:
        status, headers, body = result.status, result.headers, result.body
        if isinstance(body, FileBody):
            await _stream_file(proto, status, headers, body, self._reads)
        elif isinstance(body, Chunks):
            await _stream_chunks(proto, status, headers, body)
        else:
            proto.response_bytes(status, headers, body)

    def _body_reservation(self, scope: Any) -> int:
        """Bytes a body may make us hold, known from its head before any of it is read."""
        declared = scope.headers.get("content-length")
        if declared is not None:
            size = int(declared) if declared.isdigit() else 0
            return size if size <= self._limits.max_body_bytes else 0  # over the limit: never read
        if "chunked" in scope.headers.get("transfer-encoding", "").lower():
            return self._limits.max_body_bytes + 1
        return 0

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
            parts = tuple(iterable)  # references only: the parts are sent as they are
        finally:
            getattr(iterable, "close", lambda: None)()
        answer: bytes | Chunks = parts[0] if len(parts) == 1 else Chunks(parts) if parts else b""
        return WsgiResult(started[0], started[1], answer)


@dataclass(frozen=True, slots=True)
class _HostBudget:
    """A piped response's larger pipe, charged as its first reservation was: to the front's
    -max-inflight-bytes and to its client's share."""

    admission: FrontAdmission
    host: str

    def reserve(self, size: int) -> bool:
        return self.admission.reserve_more_response_bytes(size, self.host)

    def release(self, size: int) -> None:
        self.admission.release_bytes(size, self.host)


def _shared_body(body: bytes | Chunks | FileBody) -> object | None:
    """What a file body shares with every reader of its render (ChunkFile.shared); None for a body
    of its own."""
    shared: object = getattr(body.file, "shared", None) if isinstance(body, FileBody) else None
    return shared


def _body_size(result: WsgiResult) -> int | None:
    """The body's length when known without reading it."""
    body = result.body
    if isinstance(body, bytes):
        return len(body)
    if isinstance(body, Chunks):
        return sum(map(len, body.parts))
    declared = dict((name.lower(), value) for name, value in result.headers).get("content-length", "")
    return int(declared) if declared.isdigit() else None


async def _stream_file(
    proto: Any, status: int, headers: list[tuple[str, str]], body: FileBody, reads: HandoffPool
) -> None:
    """A file body (the /metrics exposition) sent block by block, never joined. The blocks are read
    on a read thread: copying tens of megabytes on the loop would delay every probe behind it."""
    transport = proto.response_stream(status, headers)
    try:
        while block := await reads.run(body.file.read, body.block_size):
            await transport.send_bytes(block)
    finally:
        body.close()


async def _stream_chunks(proto: Any, status: int, headers: list[tuple[str, str]], body: Chunks) -> None:
    transport = proto.response_stream(status, headers)
    for part in body.parts:
        await transport.send_bytes(part)


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
        key = _COMMON_KEYS.get(name) or environ_key(name)
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if declared is not None:
        environ["CONTENT_LENGTH"] = declared
    elif body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def environ_key(name: str) -> str:
    """The environ key of a request header (granian gives names in lower case)."""
    key = name.upper().replace("-", "_")
    return key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"


_COMMON_KEYS = {
    name: environ_key(name)
    for name in ("host", "user-agent", "content-type", "content-length", "connection", "accept",
                 "accept-encoding", "authorization")
}  # fmt: skip
"""The headers agents and Prometheus send, translated once (a client's own names are translated
per request, never kept)."""
