"""A wire-level fake kube-apiserver for pods: real HTTP(S), real REST semantics, injectable faults.

Serves GET /api/v1/pods and /api/v1/namespaces/{ns}/pods with labelSelector, limit/continue,
and watch=true as a chunked stream of JSON lines with resourceVersion, bookmarks and 410 Gone.
It counts every request so tests can assert how many full lists a client made.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.kube_cluster import ExpiredError, FakeCluster, Pod
from tests.support.label_selector import Selector, SelectorError, parse_selector

_PODS_PATH = re.compile(r"^/api/v1/(?:namespaces/(?P<namespace>[a-z0-9-]+)/)?pods$")
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Expired",
            429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}  # fmt: skip
CUT = 0
"""A fault 'status' that drops the connection instead of answering."""


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    authorization: str

    @property
    def watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")

    @property
    def namespace(self) -> str | None:
        match = _PODS_PATH.match(self.path)
        return match.group("namespace") if match else None


@dataclass
class Fault:
    status: int
    on: str = "any"
    """'list', 'watch', 'continue' (a list page after the first) or 'any'."""
    times: int | None = 1
    """None: until cleared."""
    message: str = ""
    retry_after_seconds: int | None = None


@dataclass
class FakeKubeApiServer:
    cluster: FakeCluster = field(default_factory=FakeCluster)
    token: str | None = None
    tls: ssl.SSLContext | None = None
    bookmark_interval_seconds: float | None = None
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    bookmarks_sent: list[int] = field(default_factory=list)
    unreachable: bool = False
    cuts: int = 0
    bind_port: int = 0
    """0: any free port; else that one (an exporter already pointed at it, the API 'coming up')."""
    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> FakeKubeApiServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", self.bind_port), _Handler)
        httpd.daemon_threads = True
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self._httpd is not None
        self.unreachable = True
        self.cut_watches()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def fail(self, status: int, *, on: str = "any", times: int | None = 1, **details: Any) -> None:
        """Answer the next matching request(s) with `status` (CUT: drop the connection)."""
        with self.cluster.changed:
            self.faults.append(Fault(status, on, times, **details))

    def clear_faults(self) -> None:
        with self.cluster.changed:
            self.faults.clear()

    def set_unreachable(self, *, unreachable: bool) -> None:
        """Every connection is dropped at once, open watches included (the API is 'down')."""
        self.unreachable = unreachable
        if unreachable:
            self.cut_watches()

    def cut_watches(self) -> None:
        """Drop every open watch mid-stream, without the closing chunk."""
        with self.cluster.changed:
            self.cuts += 1
            self.cluster.changed.notify_all()

    def list_requests(self) -> list[Request]:
        """Pod lists (the exporter's Kubernetes writer also GETs its Lease here, and gets a 404)."""
        return [r for r in self.requests if not r.watch and r.path.endswith("/pods")]

    def watch_requests(self) -> list[Request]:
        return [r for r in self.requests if r.watch]

    def take_fault(self, request: Request) -> Fault | None:
        kinds = {"any", "watch"} if request.watch else {"any", "list"}
        if "continue" in request.query:
            kinds.add("continue")
        with self.cluster.changed:
            for fault in self.faults:
                if fault.on in kinds:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    return fault
        return None


def status_object(code: int, message: str) -> dict[str, Any]:
    reason = _REASONS.get(code, "Unknown")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the request log instead."""

    def do_GET(self) -> None:
        fake: FakeKubeApiServer = self.server.fake
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        request = Request(url.path, query, self.headers.get("Authorization", ""))
        fake.requests.append(request)
        if fake.unreachable:
            return self._drop()
        fault = fake.take_fault(request)
        if fault is not None:
            return self._fault(fault, request)
        return self._serve(fake, request)

    def _serve(self, fake: FakeKubeApiServer, request: Request) -> None:
        if fake.token is not None and not _authorized(request.authorization, fake.token):
            return self._status(401, "Unauthorized")
        if not _PODS_PATH.match(request.path):
            return self._status(404, f"the server could not find the requested resource ({request.path})")
        try:
            selector = parse_selector(request.query.get("labelSelector", ""))
        except SelectorError as error:
            return self._status(400, f"unable to parse requirement: {error}")
        if request.watch:
            return _WatchStream(self, fake, request, selector).run()
        return self._list(fake.cluster, request, selector)

    def _list(self, cluster: FakeCluster, request: Request, selector: Selector) -> None:
        limit = int(request.query.get("limit") or 0)
        try:
            items, version, token = cluster.list_page(
                request.namespace, selector, limit, request.query.get("continue")
            )
        except ExpiredError as error:
            return self._status(410, str(error))
        except ValueError as error:
            return self._status(400, str(error))
        metadata: dict[str, Any] = {"resourceVersion": str(version)}
        if token:
            metadata["continue"] = token
        self._json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": items})

    def _fault(self, fault: Fault, request: Request) -> None:
        if fault.status == CUT:
            return self._drop()
        verb = "watch" if request.watch else "list"
        scope = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
        message = fault.message or {
            401: "Unauthorized",
            403: f'pods is forbidden: User "system:serviceaccount:netchecker:netchecker-server" '
            f'cannot {verb} resource "pods" in API group "" {scope}',
            410: "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter.",
            429: "Too many requests, please try again later.",
        }.get(fault.status, "Internal error occurred: injected fault")
        headers = {"Retry-After": str(fault.retry_after_seconds)} if fault.retry_after_seconds else {}
        self._status(fault.status, message, headers)

    def _status(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(code, status_object(code, message), headers)

    def _json(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _authorized(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and value.strip() == token


class _WatchStream:
    """One watch: synthetic ADDEDs if asked from version 0, then changes, bookmarks, and the end."""

    def __init__(
        self, handler: _Handler, fake: FakeKubeApiServer, request: Request, selector: Selector
    ) -> None:
        self.handler, self.fake, self.request, self.selector = handler, fake, request, selector
        self.cluster = fake.cluster
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        self.deadline = time.monotonic() + timeout
        wants_bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        self.bookmark_every = fake.bookmark_interval_seconds if wants_bookmarks else None
        self.next_bookmark = time.monotonic() + (self.bookmark_every or 0)
        self.cuts = fake.cuts

    def run(self) -> None:
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            self._stream(self._start_version())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            handler.close_connection = True

    def _start_version(self) -> int:
        version = self.request.query.get("resourceVersion", "")
        if version not in ("", "0"):
            return int(version)
        with self.cluster.changed:
            pods, now = self.cluster.current_pods(self.request.namespace, self.selector), self.cluster.version
        for pod in pods:
            self._send("ADDED", pod)
        return now

    def _stream(self, version: int) -> None:
        while True:
            with self.cluster.changed:
                self.cluster.changed.wait_for(
                    lambda seen=version: self._woken(seen), timeout=self._wait_seconds()
                )
                if self.fake.cuts != self.cuts:
                    return self.handler._drop()
                try:
                    events, version = self.cluster.events_after(
                        version, self.request.namespace, self.selector
                    )
                except ExpiredError as error:
                    self._send("ERROR", status_object(410, str(error)))
                    return self._end()
            for kind, pod in events:
                self._send(kind, pod)
            if self.bookmark_every is not None and time.monotonic() >= self.next_bookmark:
                self._send(
                    "BOOKMARK",
                    {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(version)}},
                )
                self.next_bookmark = time.monotonic() + self.bookmark_every
                self.fake.bookmarks_sent.append(version)
            if time.monotonic() >= self.deadline:
                return self._end()

    def _woken(self, version: int) -> bool:
        return self.fake.cuts != self.cuts or self.cluster.version != version

    def _wait_seconds(self) -> float:
        until = min(self.deadline, self.next_bookmark) if self.bookmark_every else self.deadline
        return max(0.0, min(until - time.monotonic(), 0.5))

    def _send(self, kind: str, obj: Pod) -> None:
        self.handler.write_chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    def _end(self) -> None:
        """The closing chunk; the connection stays open for the client's next request, as a real API
        server keeps it (closing it here raced the client's reuse of it: a spurious failure under load)."""
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()
