"""Processes the benchmark drives: the server, the no-op ceiling, etcd; pinned with taskset.

The exporter and etcd start through the launchers tests and e2e use (tests/support/exporter.py and
etcd.py); a Child adds what bench measures of a process (CPU seconds, RSS).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.stats import cpu_seconds, rss_bytes
from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.processes import pinned as pinned
from tests.support.processes import start_logged, stop_process

LOOPBACK = "127.0.0.1"
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
"""What Prometheus 2.4x sends when it scrapes."""


def http_get(
    port: int, path: str, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Child:
    """A child process with its log file; stopped with SIGTERM, then SIGKILL after a grace."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """The process's CPU time plus its children's (taskset, granian's and gunicorn's workers)."""
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:  # the process ended meanwhile
                continue
            pid, ppid = int(stat.parent.name), int(text.rsplit(")", 1)[1].split()[1])
            if self.pid in {pid, ppid}:
                total += cpu_seconds(text, TICKS_PER_SECOND)
        return total

    def rss_bytes(self) -> int:
        return rss_bytes(Path(f"/proc/{self.pid}/status").read_text())

    def stop(self, grace_seconds: float = 10.0) -> int:
        return stop_process(self.process, grace_seconds)


def start_child(name: str, command: Sequence[str], port: int, log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    return Child(name, start_logged(command, log_path), port, log_path)


def wait_until_answers(child: Child, path: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited {child.process.returncode}; see {child.log_path}")
        try:
            if http_get(child.port, path, timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {path} within {seconds}s; see {child.log_path}")


def start_exporter(  # noqa: PLR0913 (keyword-only: ExporterProcess's options bench uses)
    cpu: int | None,
    log_dir: Path,
    *flags: str,
    name: str = "exporter",
    tree: Path = REPO,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    ready_path: str = "/readyz",
    wait: bool = True,
) -> Child:
    """The exporter of `tree` (this checkout or a baseline's), waited for at `ready_path` if `wait`."""
    exporter = ExporterProcess(
        *flags, cwd=tree, cpu=cpu, env=env, port=port, ready_path=ready_path, wait=wait,
        log_path=log_dir / f"{name}.log",
    )  # fmt: skip
    return Child(name, exporter.process, exporter.port, exporter.log_path)


NOOP_FRONTS = ("ours", "granian-wsgi", "waitress", "gunicorn", "cheroot")
"""HTTP fronts whose no-op ceilings bench.run measures (bench/noop_server.py)."""


def noop_command(front: str, app: str, port: int) -> list[str]:
    """The command serving the no-op `app` ("noop" or "bottle") on `front`, one process, 32 threads."""
    target = f"bench.noop_server:{'noop_app' if app == 'noop' else 'bottle_app'}"
    bin_dir = Path(sys.executable).parent
    if front == "granian-wsgi":  # granian's own WSGI mode: 1 worker process, 32 blocking threads
        return [str(bin_dir / "granian"), "--interface", "wsgi", "--workers", "1", "--blocking-threads",
                "32", "--host", LOOPBACK, "--port", str(port), "--no-ws", "--http", "1", target]  # fmt: skip
    if front == "gunicorn":
        return [str(bin_dir / "gunicorn"), "-k", "gthread", "-w", "1", "--threads", "32",
                "-b", f"{LOOPBACK}:{port}", target]  # fmt: skip
    return [sys.executable, "-m", "bench.noop_server", str(port), "--front", front, "--app", app]


def start_noop_server(cpu: int | None, log_dir: Path, front: str = "ours", app: str = "noop") -> Child:
    port = free_port()
    child = start_child(f"noop-{front}-{app}", pinned(cpu, noop_command(front, app, port)), port, log_dir)
    wait_until_answers(child, "/")
    return child


ETCD_QUOTA_BYTES = 8 * 1024**3
"""etcd's largest recommended quota (its default is 2 GiB): the ceiling runs write millions of revisions."""


def start_etcd(cpu: int | None, data_dir: Path, log_dir: Path) -> Child:
    """A throw-away single-member etcd on loopback ports (default fsync: the real cost)."""
    quota = f"--quota-backend-bytes={ETCD_QUOTA_BYTES}"
    etcd = EtcdProcess(data_dir, cpu=cpu, extra_args=[quota], log_path=log_dir / "etcd.log")
    etcd.start()
    return Child("etcd", etcd.process, etcd.client_port, etcd.log_path)
