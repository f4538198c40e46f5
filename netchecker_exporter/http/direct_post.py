"""A POST with a declared length, answered without the event loop: the agents' reports.

granian's thread admits it (the front's budgets) and asks for its body; the body's arrival runs
DirectPost on that same thread (an InPlace callback), which calls the app there or hands it to an
ingest thread; whichever runs the app answers granian itself. Against the loop's path that is
three loop wake-ups fewer per report (the request, its body, the pool's answer), and no asyncio
Task, timer or future. The body timeout is a sweep of BodyDeadlines on the loop, which cancels
the body's future: the callback then answers 408, as the loop's path does. An answer that is not
small bytes (a file, chunks, a large body to pipe) is sent by the loop, as for every other request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netchecker_exporter.http.body_deadlines import BodyDeadlines
from netchecker_exporter.http.front_admission import FrontAdmission, Refusal
from netchecker_exporter.http.granian_dispatch import InPlace
from netchecker_exporter.http.loop_handoff import HandoffPool
from netchecker_exporter.http.piped_response import PIPED_MIN_BYTES

log = logging.getLogger(__name__)

TIMEOUT_BODY = b'{"error": "request body not received in time"}'
JSON_CLOSE = [("content-type", "application/json"), ("connection", "close")]
CLOSE_HEADER = ("connection", "close")


@dataclass(frozen=True, slots=True)
class PostRoute:
    """What every direct POST shares (built once by WsgiBridge)."""

    call_app: Callable[[Any, bytes, str | None], Any]
    """(scope, body, declared length) -> WsgiResult: the WSGI app's answer."""
    send_on_loop: Callable[[Any, Any, Any, Callable[[], None]], None]
    """(proto, result, scope, then): send an answer that is not small bytes from the loop."""
    ingest: HandoffPool | None
    """Threads that run the app; None: granian's thread runs it (for an app that never blocks)."""
    admission: FrontAdmission | None
    deadlines: BodyDeadlines
    max_body_bytes: int


def start_post(route: PostRoute, scope: Any, proto: Any, declared: str) -> None:
    """On granian's thread: admit a POST whose head declares `declared` (digits) bytes of body."""
    admission, peer = route.admission, scope.client
    closing = False
    if admission is not None:
        verdict = admission.connection(peer)
        if isinstance(verdict, Refusal):
            proto.response_bytes(verdict.status, verdict.headers(), verdict.body)
            return
        closing = verdict or "close" in scope.headers.get("connection", "").lower()
    size = int(declared)
    within = size <= route.max_body_bytes
    reserved, host = (size if within else 0), peer.rpartition(":")[0]
    if admission is not None and (refusal := admission.reserve_bytes(reserved, host)):
        proto.response_bytes(refusal.status, refusal.headers(), refusal.body)
        admission.connection_done(peer, closing=closing)
        return
    post = DirectPost(route, scope, proto, declared, reserved, peer, closing=closing)
    if not within:  # never read: the app refuses it by its declared length
        post.body_ready(b"")
        return
    body = proto()
    route.deadlines.add(post, body, time.monotonic())
    body.add_done_callback(post)


class DirectPost(InPlace):
    """One admitted POST from its body's arrival to its answer."""

    __slots__ = ("_closing", "_declared", "_peer", "_proto", "_reserved", "_route", "_scope")

    def __init__(  # noqa: PLR0913, PLR0917 (the request's facts, each from start_post)
        self, route: PostRoute, scope: Any, proto: Any, declared: str, reserved: int, peer: str, *,
        closing: bool,
    ) -> None:  # fmt: skip
        self._route, self._scope, self._proto, self._declared = route, scope, proto, declared
        self._reserved, self._peer, self._closing = reserved, peer, closing

    def __call__(self, future: Any) -> None:
        """The body came, failed, or was cancelled by the deadline sweep (on the thread that saw it)."""
        route = self._route
        route.deadlines.discard(self)
        try:
            body = future.result()
        except asyncio.CancelledError:
            self._proto.response_bytes(408, JSON_CLOSE, TIMEOUT_BODY)
            self._finish()
            return
        except Exception as error:  # the client went away mid-body: granian's 500, as on the loop
            log.debug("request body not received: %s", error)
            self._proto.response_empty(500, [])
            self._finish()
            return
        self.body_ready(body)

    def body_ready(self, body: bytes) -> None:
        ingest = self._route.ingest
        if ingest is None:
            self.run_app(body)
        else:
            ingest.submit(self.run_app, body)

    def run_app(self, body: bytes) -> None:
        """Call the app and answer (on an ingest thread, or granian's)."""
        route, proto = self._route, self._proto
        try:
            result = route.call_app(self._scope, body, self._declared)
        except Exception:  # bottle answers its own errors: this is the front's, so granian's 500
            log.exception("the app failed on a POST")
            proto.response_empty(500, [])
            self._finish()
            return
        del body  # the reservation ends here; the bytes must not outlive it
        if self._closing:
            result.headers = [*result.headers, CLOSE_HEADER]
        admission = route.admission
        if admission is not None:
            admission.release_bytes(self._reserved, self._peer.rpartition(":")[0])
        answer = result.body
        if isinstance(answer, bytes) and len(answer) < PIPED_MIN_BYTES:
            proto.response_bytes(result.status, result.headers, answer)
            if admission is not None:
                admission.connection_done(self._peer, closing=self._closing)
            return
        route.send_on_loop(proto, result, self._scope, self._connection_done)

    def _finish(self) -> None:
        admission = self._route.admission
        if admission is not None:
            admission.release_bytes(self._reserved, self._peer.rpartition(":")[0])
            admission.connection_done(self._peer, closing=self._closing)

    def _connection_done(self) -> None:
        if self._route.admission is not None:
            self._route.admission.connection_done(self._peer, closing=self._closing)
