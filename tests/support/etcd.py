"""The one launcher of real etcd processes, for tests, e2e and bench: free loopback ports, temp
data dirs, never a system service.

EtcdProcess starts, stops (SIGTERM), kills (SIGKILL) and restarts one member, pinned to a CPU if
asked; make_cluster starts several members as one cluster (TLS files from tests/support/tls.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.processes import kill_process, pinned, start_logged, stop_process
from tests.support.tls import TlsFiles

# $NETCHECKER_ETCD_BIN / $NETCHECKER_ETCDCTL_BIN pick another etcd (make e2e runs the suite on 3.6).
ETCD = os.environ.get("NETCHECKER_ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = os.environ.get("NETCHECKER_ETCDCTL_BIN") or shutil.which("etcdctl") or "/usr/bin/etcdctl"


class EtcdProcess:
    """One etcd member on loopback; `url` is its client URL."""

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str = "default",
        client_port: int | None = None,
        peer_port: int | None = None,
        tls: TlsFiles | None = None,
        extra_args: Sequence[str] = (),
        cpu: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name, self.data_dir, self.tls, self.cpu = name, data_dir, tls, cpu
        self.extra_args = tuple(extra_args)
        self.log_path = log_path or data_dir / f"{name}.log"
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.initial_cluster = f"{name}={self.peer_url}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def command(self) -> list[str]:
        command = [
            ETCD,
            f"--name={self.name}",
            f"--data-dir={self.data_dir / self.name}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            "--initial-cluster-token=netchecker-test",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-level=warn",
            *self.extra_args,
        ]
        if self.tls:
            command += [
                f"--cert-file={self.tls.server_cert}",
                f"--key-file={self.tls.server_key}",
                "--client-cert-auth",
                f"--trusted-ca-file={self.tls.ca}",
            ]
        return command

    def start(self, *, wait: bool = True) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ETCD_UNSUPPORTED_ARCH": ""}
        self._process = start_logged(pinned(self.cpu, self.command()), self.log_path, env=env)
        if wait:
            self.wait_healthy()

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, f"etcd {self.name} is not running"
        return self._process

    def wait_healthy(self, timeout_seconds: float = 20) -> None:
        """Until /health says so; killed (and the cause raised) if it never does."""
        try:
            wait_until(
                self.healthy,
                timeout_seconds,
                f"etcd {self.name} at {self.url} to be healthy",
                interval_seconds=0.1,
            )
        except BaseException:
            self.kill()
            raise

    def healthy(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise AssertionError(f"etcd {self.name} exited with {self._process.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1, context=self._ssl()) as reply:
                return bool(json.load(reply).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return context

    def stop(self) -> None:
        """SIGTERM, SIGKILL if it has not gone after 20 s."""
        if self._process is not None:
            stop_process(self._process, grace_seconds=20)
        self._process = None

    def kill(self) -> None:
        if self._process is not None:
            kill_process(self._process)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: etcd hangs with its sockets open, as a stalled disk or a frozen VM does."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def restart(self, *, wait: bool = True) -> None:
        self.stop()
        self.start(wait=wait)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def etcdctl(self, *args: str) -> str:
        command = [ETCDCTL, f"--endpoints={self.url}", "--command-timeout=5s", *args]
        if self.tls:
            command += [
                f"--cacert={self.tls.ca}",
                f"--cert={self.tls.client_cert}",
                f"--key={self.tls.client_key}",
            ]
        env = {**os.environ, "ETCDCTL_API": "3"}
        return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout

    def is_leader(self) -> bool:
        status = json.loads(self.etcdctl("endpoint", "status", "--write-out=json"))[0]["Status"]
        return bool(status["leader"] == status["header"]["member_id"])


def make_cluster(data_dir: Path, size: int) -> list[EtcdProcess]:
    """`size` members forming one cluster, started together, then each waited for until healthy."""
    members = [EtcdProcess(data_dir, name=f"member{i}") for i in range(size)]
    initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
    try:
        for member in members:
            member.initial_cluster = initial
            member.start(wait=False)
        for member in members:
            member.wait_healthy()
    except BaseException:
        stop_all(members)  # the caller never gets the list: nobody else could stop them
        raise
    return members


def stop_all(processes: Sequence[EtcdProcess]) -> None:
    for process in processes:
        process.kill()
