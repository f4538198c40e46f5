"""The real `python exporter.py` as the scenarios run it, judged only over HTTP and by its log."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from tests.support.exporter import EXPORTER_PY, isolated_environment
from tests.support.paths import REPO
from tests.support.polling import wait_until
from tests.support.ports import free_port


class ExporterProcess:
    def __init__(self, flags: Sequence[str], log_path: Path) -> None:
        self.port = free_port()
        self.flags = [f"-endpoint=127.0.0.1:{self.port}", *flags]
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ExporterProcess:
        command = [*EXPORTER_PY, *self.flags]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=REPO, env=isolated_environment(), stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._answers, 30, f"the exporter on {self.url}", interval_seconds=0.1)
        return self

    def _answers(self) -> bool:
        assert self._process is not None and self._process.poll() is None, f"exporter exited:\n{self.log()}"
        try:
            return requests.get(self.url + "/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown (a Lease it holds is left to expire)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connectivity(self) -> tuple[int, dict[str, Any]]:
        reply = requests.get(self.url + "/api/v1/connectivity_check", timeout=10)
        return reply.status_code, reply.json()

    def agents(self) -> dict[str, Any]:
        reply = requests.get(self.url + "/api/v1/agents/", timeout=10)
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    def metrics(self) -> str:
        reply = requests.get(self.url + "/metrics", timeout=10)
        reply.raise_for_status()
        return reply.text

    def metric(self, name_and_labels: str) -> float | None:
        """The value of the first sample line starting with `name_and_labels`, else None."""
        for line in self.metrics().splitlines():
            if line.startswith(name_and_labels) and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[1])
        return None
