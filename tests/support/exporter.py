"""A real `python exporter.py` process on a free loopback port, and other processes a test starts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import requests

from tests.support.paths import REPO
from tests.support.polling import wait_until
from tests.support.ports import free_port

STARTUP_SECONDS = 15
LEGACY_MS_LINT = re.compile(
    r"ncagent_http_probe_\w+_time_ms metric names should not contain abbreviated units"
)
"""promtool's one lint allowed: the ncagent_*_time_ms names, which COMPAT.md requires as spelled."""


EXPORTER_PY = (sys.executable, "exporter.py")
CONSOLE_SCRIPT = (str(Path(sys.executable).parent / "netchecker-exporter"),)
"""The installed `netchecker-exporter` script, which starts as exporter.py does (__main__.py)."""


class ExporterProcess:
    """`python exporter.py` on a free loopback port, stopped with SIGTERM at the end."""

    def __init__(self, *args: str, program: Sequence[str] = EXPORTER_PY) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [*program, f"-endpoint=127.0.0.1:{self.port}", *args]
        self.process = subprocess.Popen(
            command, cwd=REPO, env=isolated_environment(), stderr=subprocess.PIPE, text=True
        )
        try:
            wait_until(lambda: self._answers("/healthz"), STARTUP_SECONDS, f"exporter on {self.url}")
        except BaseException:  # a start that timed out left the process running past its test
            self.process.kill()
            self.process.communicate(timeout=10)
            raise

    def _answers(self, path: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exporter exited {self.process.returncode}: {self.process.stderr.read()}")  # type: ignore[union-attr]
        try:
            return requests.get(self.url + path, timeout=1).ok
        except requests.ConnectionError:
            return False

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=5)

    def post_fixture(self, path: Path) -> requests.Response:
        body = path.read_bytes()
        name = json.loads(body)["podname"]
        headers = {"Content-Type": "application/json", "Connection": "close"}
        return requests.post(f"{self.url}/api/v1/agents/{name}", data=body, headers=headers, timeout=5)

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=10)
        return self.process.returncode, stderr


def isolated_environment() -> dict[str, str]:
    """This machine's environment minus anything that would point the exporter at a real cluster."""
    cluster = {"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
    return {k: v for k, v in os.environ.items() if k not in cluster and not k.startswith("NETCHECKER_")}


def metric_value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def start_logged(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `command` in the repository with its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not gone after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
