"""One agent process per agent pod: the real Go agent when built, else the stand-in (said in the log)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.paths import REPO

STAND_IN = REPO / "e2e" / "stand_in_agent.py"


def pod_flags(container_args: Sequence[str], server: str, interval: int) -> list[str]:
    """The agent container's own arguments (the chart's DaemonSet), pointed at `server` every
    `interval` seconds: there is no Service on loopback, and the scenarios cannot wait 10 s."""
    replaced = {"-serverendpoint": server, "-reportinterval": str(interval)}
    flags = [arg for arg in container_args if arg.split("=", 1)[0] not in replaced]
    return flags + [f"{name}={value}" for name, value in replaced.items()]


class AgentProcess:
    """The agent of pod `pod` on node `node`, reporting to the exporter at `server` (host:port),
    with the pod's container arguments when given (else kubespray's logging flags)."""

    def __init__(
        self, binary: Path | None, pod: str, node: str, server: str, interval: int, logs: Path,
        container_args: Sequence[str] = ("-logtostderr", "-v=5"),
    ) -> None:  # fmt: skip
        self.pod, self.node = pod, node
        flags = pod_flags(container_args, server, interval)
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
