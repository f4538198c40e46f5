"""Fixtures for the Kubernetes pod source: a fake API server over real HTTP(S), kubeconfigs, a PKI."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netchecker_exporter.pods.cluster_access import ClusterAccess
from netchecker_exporter.pods.kubernetes import KubernetesPodSource, connect
from netchecker_exporter.pods.watch_timing import WatchTiming
from netchecker_exporter.settings import DEFAULT_AGENT_SELECTOR, KubernetesSettings
from tests.kube.kube_apiserver import FakeKubeApiServer
from tests.kube.kube_cluster import FakeCluster

TOKEN = "test-token"
FAST = WatchTiming(
    watch_timeout_seconds=30,
    watch_idle_seconds=5.0,
    request_timeout_seconds=5.0,
    connect_timeout_seconds=2.0,
    page_size=500,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.2,
)


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def apiserver(cluster: FakeCluster) -> Iterator[FakeKubeApiServer]:
    server = FakeKubeApiServer(cluster, token=TOKEN).start()
    yield server
    server.stop()


def write_kubeconfig(path: Path, server: str, token: str, ca_file: Path | None = None) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": cluster}],
        "users": [{"name": "exporter", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "exporter"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path, apiserver: FakeKubeApiServer) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", apiserver.url, TOKEN)


SourceFactory = Callable[..., KubernetesPodSource]


@pytest.fixture
def make_source(kubeconfig: Path) -> Iterator[SourceFactory]:
    """Build, start and (at teardown) close a source; keyword arguments override the defaults."""
    sources: list[KubernetesPodSource] = []

    def make(
        *,
        access: ClusterAccess | None = None,
        environ: dict[str, str] | None = None,
        namespace: str | None = None,
        selector: str = DEFAULT_AGENT_SELECTOR,
        grace: float = 120.0,
        timing: WatchTiming = FAST,
        start: bool = True,
        **kwargs: Any,
    ) -> KubernetesPodSource:
        access = access or ClusterAccess(str(kubeconfig), "test kubeconfig")
        settings = KubernetesSettings(str(kubeconfig), namespace, selector, grace)
        source = KubernetesPodSource(
            connect(access, environ or {}), settings, timing=timing, random_fraction=lambda: 0.0, **kwargs
        )
        sources.append(source)
        if start:
            source.start()
        return source

    yield make
    for source in sources:
        source.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    directory = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fake-kubernetes-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kubernetes")  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "server.ext")  # fmt: skip
    return directory


@pytest.fixture
def tls_apiserver(cluster: FakeCluster, pki: Path) -> Iterator[FakeKubeApiServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    server = FakeKubeApiServer(cluster, token=TOKEN, tls=context).start()
    yield server
    server.stop()
