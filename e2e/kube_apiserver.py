"""A real kube-apiserver on a loopback port, stored in a real etcd 3.6: no kubelet, no controllers.

Everything it needs is made at start: a CA and serving certificate, a static token file for the
test admin (group system:masters), and the service-account signing key pair TokenRequest uses.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import requests

from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.tls import OPENSSL, TlsFiles, make_tls_files

ADMIN_USER = "e2e-admin"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class KubeApiServer:
    """One kube-apiserver process; `restart(extra_flags)` keeps its port, keys and storage."""

    def __init__(self, binary: Path, etcd_url: str, directory: Path) -> None:
        self.binary, self.etcd_url, self.directory = binary, etcd_url, directory
        self.port = free_port()
        self.tls: TlsFiles = make_tls_files(directory)
        self.admin_token = secrets.token_hex(16)
        (directory / "tokens.csv").write_text(f'{self.admin_token},{ADMIN_USER},1000,"system:masters"\n')
        self._make_service_account_keys()
        self.log_path = directory / "kube-apiserver.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _make_service_account_keys(self) -> None:
        key, public = self.directory / "sa.key", self.directory / "sa.pub"
        subprocess.run([OPENSSL, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        subprocess.run(
            [OPENSSL, "rsa", "-in", str(key), "-pubout", "-out", str(public)], check=True, capture_output=True
        )

    def command(self, extra_flags: Sequence[str] = ()) -> list[str]:
        """The smallest flag set this release starts with, RBAC on, TokenRequest working."""
        d = self.directory
        return [
            str(self.binary),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",  # a loopback address may not back the kubernetes Service
            f"--secure-port={self.port}",
            f"--cert-dir={d / 'certs'}",
            f"--tls-cert-file={self.tls.server_cert}",
            f"--tls-private-key-file={self.tls.server_key}",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/24",
            *extra_flags,
        ]

    def start(self, extra_flags: Sequence[str] = (), *, timeout_seconds: float = 120) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self.command(extra_flags), stdout=log, stderr=subprocess.STDOUT)
        wait_until(
            self.ready, timeout_seconds, f"kube-apiserver at {self.url} /readyz", interval_seconds=0.25
        )

    def ready(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"kube-apiserver exited:\n{tail}")
        try:
            reply = requests.get(
                f"{self.url}/readyz", headers=self.admin_headers(), verify=str(self.tls.ca), timeout=2
            )
        except requests.RequestException:
            return False
        return reply.status_code == 200

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def restart(self, extra_flags: Sequence[str] = ()) -> None:
        self.stop()
        self.start(extra_flags)

    def kubeconfig(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with `token` (JSON is YAML: no YAML writer needed)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": self.url, "certificate-authority": str(self.tls.ca)}}
            ],
            "users": [{"name": "e2e", "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
            "current-context": "e2e",
        }
        path.write_text(json.dumps(config))
        return path
