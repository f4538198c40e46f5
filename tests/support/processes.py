"""Child processes of tests, e2e and bench: pinned to a CPU, logged to a file, never left behind."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.paths import REPO


def pinned(cpu: int | None, command: Sequence[str]) -> list[str]:
    """`command` run on one CPU with taskset (unpinned when cpu is None or taskset is missing)."""
    if cpu is None or shutil.which("taskset") is None:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def start_logged(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path = REPO
) -> subprocess.Popen[bytes]:
    """Start `command` in `cwd` with its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace_seconds: float = 10) -> int:
    """SIGTERM (after SIGCONT, which a paused process needs to act on it), SIGKILL after the grace."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def kill_process(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> int:
    """SIGKILL: no clean shutdown (a Lease it holds is left to expire, etcd recovers from its WAL)."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    return process.returncode
