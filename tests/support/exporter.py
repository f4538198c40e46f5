"""The one launcher of a real exporter process, for tests, e2e and bench: a free loopback port,
its output in a log file, a wait until it answers, and a stop that leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from tests.support.paths import REPO
from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.processes import kill_process, pinned, start_logged, stop_process

STARTUP_SECONDS = 60
"""Generous: a start-up takes about a second alone, but over 30 s was seen under make test's load."""
STOP_GRACE_SECONDS = 20
LEGACY_MS_LINT = re.compile(
    r"ncagent_http_probe_\w+_time_ms metric names should not contain abbreviated units"
)
"""promtool's one lint allowed: the ncagent_*_time_ms names, which COMPAT.md requires as spelled."""


EXPORTER_PY = (sys.executable, "exporter.py")
CONSOLE_SCRIPT = (str(Path(sys.executable).parent / "netchecker-exporter"),)
"""The installed `netchecker-exporter` script, which starts as exporter.py does (__main__.py)."""


class ExporterExitedError(RuntimeError):
    """The exporter ended before it answered: its log says why."""


class ExporterProcess:
    """A real exporter on a free loopback port, started (and by default waited for) at construction.

    `program` runs in `cwd` (another checkout for bench's baselines), pinned to `cpu` if given, with
    the environment of isolated_environment() plus `env`; stdout and stderr go to `log_path` (a
    temporary file if none).
    """

    def __init__(
        self,
        *flags: str,
        program: Sequence[str] = EXPORTER_PY,
        cwd: Path = REPO,
        log_path: Path | None = None,
        cpu: int | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready_path: str = "/healthz",
        wait: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.ready_path = ready_path
        self._temporary_log = log_path is None
        if log_path is None:
            descriptor, name = tempfile.mkstemp(prefix="exporter-", suffix=".log")
            os.close(descriptor)
            log_path = Path(name)
        self.log_path = log_path
        self._final_log: str | None = None
        command = pinned(cpu, [*program, f"-endpoint={self.endpoint}", *flags])
        self.process = start_logged(command, log_path, env={**isolated_environment(), **(env or {})}, cwd=cwd)
        if wait:
            self.wait_ready()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout_seconds: float = STARTUP_SECONDS) -> None:
        """Until `ready_path` answers 200; stopped (and the cause raised) if it never does."""
        try:
            wait_until(self._answers, timeout_seconds, f"the exporter on {self.url}", interval_seconds=0.1)
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        if not self.running:
            raise ExporterExitedError(f"exporter exited {self.process.returncode}:\n{self.log()[-4000:]}")
        try:
            return requests.get(self.url + self.ready_path, timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> tuple[int, str]:
        """SIGTERM, SIGKILL after the grace; the exit code and the whole log."""
        return stop_process(self.process, grace_seconds), self._finish()

    def kill(self) -> tuple[int, str]:
        """SIGKILL: no clean shutdown (a Lease it holds is left to expire)."""
        return kill_process(self.process), self._finish()

    def _finish(self) -> str:
        if self._final_log is None:
            self._final_log = self.log()
            if self._temporary_log:
                self.log_path.unlink(missing_ok=True)
        return self._final_log

    def log(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 5) -> requests.Response:
        return requests.get(self.url + path, timeout=timeout)

    def post_fixture(self, path: Path) -> requests.Response:
        body = path.read_bytes()
        name = json.loads(body)["podname"]
        headers = {"Content-Type": "application/json", "Connection": "close"}
        return requests.post(f"{self.url}/api/v1/agents/{name}", data=body, headers=headers, timeout=5)

    def connectivity(self) -> tuple[int, dict[str, Any]]:
        reply = self.get("/api/v1/connectivity_check", timeout=10)
        return reply.status_code, reply.json()

    def agents(self) -> dict[str, Any]:
        reply = self.get("/api/v1/agents/", timeout=10)
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    def metrics(self) -> str:
        reply = self.get("/metrics", timeout=10)
        reply.raise_for_status()
        return reply.text

    def metric(self, name_and_labels: str) -> float | None:
        """The value of the first sample line starting with `name_and_labels`, else None."""
        for line in self.metrics().splitlines():
            if line.startswith(name_and_labels) and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[1])
        return None


def run_exporter(*args: str, timeout_seconds: float = 30) -> subprocess.CompletedProcess[str]:
    """`python exporter.py ARGS` run to its exit (bad configuration, -h), its output captured."""
    return subprocess.run(
        [*EXPORTER_PY, *args], cwd=REPO, env=isolated_environment(), capture_output=True, text=True,
        timeout=timeout_seconds,
    )  # fmt: skip


def isolated_environment() -> dict[str, str]:
    """This machine's environment minus anything that would point the exporter at a real cluster."""
    cluster = {"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
    return {k: v for k, v in os.environ.items() if k not in cluster and not k.startswith("NETCHECKER_")}


def metric_value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None
