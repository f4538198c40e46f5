"""A steady fleet of posting agents for the etcd-cluster scenarios: who got what, and when."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from tests.support.load_threads import PostingFleet, longest_gap_seconds
from tests.support.paths import fixture_paths


@dataclass
class Outcomes:
    """Every POST's answer, by pod, with the time of each 200 (the fleet's own record)."""

    acked: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    ack_times: list[float] = field(default_factory=list)
    refusal_times: list[float] = field(default_factory=list)
    other: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, pod: str, status: int, at: float) -> None:
        with self.lock:
            if status == 200:
                self.acked[pod] += 1
                self.ack_times.append(at)
            elif status == 503:
                self.refused[pod] += 1
                self.refusal_times.append(at)
            else:
                self.other[status] += 1

    def longest_gap_seconds(self, since: float, until: float) -> float:
        """The longest stretch in [since, until] with no 200 for anyone."""
        with self.lock:
            return longest_gap_seconds(self.ack_times, since, until)

    def acks(self) -> int:
        with self.lock:
            return len(self.ack_times)


def report_body(podname: str) -> bytes:
    template = json.loads(fixture_paths()[0].read_text())
    template.update(podname=podname, nodename=f"node-{podname.rsplit('-', 1)[-1]}", report_interval=10)
    return json.dumps(template).encode()


class Fleet(PostingFleet):
    """`agents` threads, each one agent posting back to back (Connection: close, as the real agent)."""

    def __init__(self, url: str, agents: int, *, pause_seconds: float = 0.02) -> None:
        self.url, self.outcomes = url, Outcomes()
        self._pause = pause_seconds
        self._bodies = [
            (f"netchecker-agent-{i:03d}", report_body(f"netchecker-agent-{i:03d}")) for i in range(agents)
        ]
        super().__init__(agents)

    def _post(self, index: int) -> None:
        pod, body = self._bodies[index]
        headers = {"Content-Type": "application/json", "Connection": "close"}
        try:
            reply = requests.post(f"{self.url}/api/v1/agents/{pod}", data=body, headers=headers, timeout=10)
            status = reply.status_code
        except requests.RequestException:
            status = 0
        self.outcomes.note(pod, status, time.monotonic())
        self._threads.stopping.wait(self._pause)


class HealthProbe:
    """/healthz and /readyz polled every 0.2 s in a thread: the slowest answer of each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest: dict[str, float] = {"/healthz": 0.0, "/readyz": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> HealthProbe:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.slowest

    def _loop(self) -> None:
        while not self._stop.is_set():
            for path in self.slowest:
                started = time.monotonic()
                with contextlib.suppress(requests.RequestException):  # a timeout counts as its 5 s
                    requests.get(self.url + path, timeout=5)
                self.slowest[path] = max(self.slowest[path], time.monotonic() - started)
            self._stop.wait(0.2)
