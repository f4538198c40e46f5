"""Several exporter replicas behind a client-side round robin (what a Service does), and a steady fleet
posting through it: each POST's replica, times and answer, so a test can tell a live replica's answer
from one cut by a kill, and count what was acknowledged."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from tests.support.load_threads import PostingFleet
from tests.support.paths import fixture_paths

_TEMPLATE = json.loads(fixture_paths()[0].read_text())
_sequence = itertools.count()


def report_body(pod: str, node: str, interval_seconds: int) -> bytes:
    """A captured report for `pod` on `node` with a hostdate of its own (nanoseconds from a sequence),
    so the record a replica shows names the POST it came from."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    hostdate = f"{now}{next(_sequence) % 1000:03d}Z"
    body = {**_TEMPLATE, "podname": pod, "nodename": node, "report_interval": interval_seconds}
    return json.dumps({**body, "hostdate": hostdate}).encode()


def post_answer(url: str, pod: str, body: bytes) -> tuple[int, str]:
    """The status and body of one agent-style POST (Connection: close); 0 when no answer came."""
    headers = {"Content-Type": "application/json", "Connection": "close"}
    try:
        reply = requests.post(f"{url}/api/v1/agents/{pod}", data=body, headers=headers, timeout=10)
    except requests.RequestException as error:
        return 0, type(error).__name__
    return reply.status_code, reply.text


def post_report(url: str, pod: str, body: bytes) -> int:
    return post_answer(url, pod, body)[0]


@dataclass(frozen=True)
class Post:
    pod: str
    replica: int
    sent: float
    done: float
    status: int


class Rotation:
    """The replicas a Service would route to: taken out before a stop (a terminating pod leaves the
    endpoints) or after a kill (once its readiness probe fails), put back once ready."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._in = set(range(len(urls)))
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def take(self) -> tuple[int, str]:
        with self._lock:
            members = sorted(self._in)
            replica = members[next(self._turn) % len(members)]
            return replica, self.urls[replica]

    def remove(self, replica: int) -> None:
        with self._lock:
            self._in.discard(replica)

    def add(self, replica: int) -> None:
        with self._lock:
            self._in.add(replica)


@dataclass
class Fleet(PostingFleet):
    """One thread per agent pod, each posting back to back through the rotation."""

    rotation: Rotation
    agents: list[tuple[str, str]]
    """(pod, node) of each agent."""
    interval_seconds: int = 10
    pause_seconds: float = 0.05
    posts: list[Post] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        PostingFleet.__init__(self, len(self.agents))

    def _post(self, index: int) -> None:
        pod, node = self.agents[index]
        replica, url = self.rotation.take()
        sent = time.monotonic()
        status = post_report(url, pod, report_body(pod, node, self.interval_seconds))
        with self._lock:
            self.posts.append(Post(pod, replica, sent, time.monotonic(), status))
        self._threads.stopping.wait(self.pause_seconds)

    def snapshot(self) -> list[Post]:
        with self._lock:
            return list(self.posts)

    def acknowledged(self) -> Counter[str]:
        return Counter(post.pod for post in self.snapshot() if post.status == 200)

    def unanswered(self) -> Counter[str]:
        """POSTs without a 200: a report that may or may not be stored (its answer was lost)."""
        return Counter(post.pod for post in self.snapshot() if post.status != 200)

    def wait_for_more(self, reports: int, timeout_seconds: float = 60) -> None:
        wanted = sum(self.acknowledged().values()) + reports
        deadline = time.monotonic() + timeout_seconds
        while sum(self.acknowledged().values()) < wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {reports} more reports acknowledged in {timeout_seconds} s")
            time.sleep(0.05)
