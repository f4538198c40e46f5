"""One agent process per agent pod: the real Go agent when built, else the stand-in (said in the log)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

STAND_IN = REPO / "e2e" / "stand_in_agent.py"


class AgentProcess:
    """The agent of pod `pod` on node `node`, reporting to the exporter at `server` (host:port)."""

    def __init__(
        self, binary: Path | None, pod: str, node: str, server: str, interval: int, logs: Path
    ) -> None:
        self.pod, self.node = pod, node
        flags = [f"-serverendpoint={server}", f"-reportinterval={interval}", "-logtostderr", "-v=5"]
        self.command = [str(binary), *flags] if binary else [sys.executable, str(STAND_IN), *flags]
        self.log_path = logs / f"agent-{pod}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        env = {"MY_POD_NAME": self.pod, "MY_NODE_NAME": self.node, "PATH": "/usr/bin:/bin"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None
