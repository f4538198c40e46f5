"""One more agent posting every 0.1 s beside the fleet, timing each answer: how fast is a 503?"""

from __future__ import annotations

import threading
import time

import requests

from e2e.etcd_fleet import report_body

PROBE_POD = "netchecker-agent-probe"


class PostProbe:
    """POSTs `PROBE_POD`'s report in a thread; keeps (status, seconds) of every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[int, float]] = []
        self._body = report_body(PROBE_POD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="post-probe", daemon=True)

    def start(self) -> PostProbe:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[int, float]]:
        self._stop.set()
        self._thread.join(timeout=15)
        return self.answers

    def refusal_seconds(self) -> list[float]:
        return sorted(seconds for status, seconds in self.answers if status == 503)

    def _loop(self) -> None:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = requests.post(
                    f"{self.url}/api/v1/agents/{PROBE_POD}", data=self._body, headers=headers, timeout=10
                ).status_code
            except requests.RequestException:
                status = 0
            self.answers.append((status, time.monotonic() - started))
            self._stop.wait(0.1)
