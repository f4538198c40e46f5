"""Driving a real exporter on a sick etcd: start it, load it with agents, time its health answers."""

from __future__ import annotations

import json
import threading
import time

import requests

from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.paths import load_fixture

PING_TIMEOUT_SECONDS = 1.5
HEALTH_PATHS = ("/healthz", "/readyz", "/metrics", "/api/v1/ping", "/api/v1/connectivity_check")
HEALTH_DEADLINE_SECONDS = 1.0


def start_exporter(etcd: EtcdProcess, *args: str) -> ExporterProcess:
    return ExporterProcess(
        f"-etcd-endpoints={etcd.url}",
        "-check-interval=0.2",
        f"-ping-timeout={PING_TIMEOUT_SECONDS}",
        *args,
    )


def report_body(name: str) -> bytes:
    return json.dumps({**load_fixture("agent-report-hostnet.json"), "podname": name}).encode()


def post(exporter: ExporterProcess, name: str) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.post(
        f"{exporter.url}/api/v1/agents/{name}",
        data=report_body(name),
        headers={"Content-Type": "application/json", "Connection": "close"},
        timeout=30,
    )
    return response.status_code, time.monotonic() - started


class IngestLoad:
    """`threads` agents posting as fast as they are answered (or each at most once per
    `every_seconds`), recording (status, seconds)."""

    def __init__(self, exporter: ExporterProcess, threads: int, every_seconds: float = 0.0) -> None:
        self.results: list[tuple[int, float]] = []
        self._every = every_seconds
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(exporter, f"netchecker-agent-load-{i}"), daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, exporter: ExporterProcess, name: str) -> None:
        while not self._stop.is_set():
            status, seconds = post(exporter, name)
            self.results.append((status, seconds))
            self._stop.wait(self._every - seconds)

    def stop(self) -> list[tuple[int, float]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.results


def slowest_health_answer(exporter: ExporterProcess, seconds: float) -> tuple[float, str]:
    """Poll every health endpoint for `seconds`; the slowest answer and its path."""
    slowest = (0.0, "")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in HEALTH_PATHS:
            started = time.monotonic()
            requests.get(exporter.url + path, timeout=10)
            slowest = max(slowest, (time.monotonic() - started, path))
        time.sleep(0.05)
    return slowest
