"""Fixtures for the Kubernetes pod source: a fake API server over real HTTP(S), kubeconfigs, a PKI."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netchecker_exporter.flags import DEFAULT_AGENT_SELECTOR
from netchecker_exporter.pods.cluster_access import ClusterAccess
from netchecker_exporter.pods.kubernetes import KubernetesPodSource, connect
from netchecker_exporter.pods.watch_timing import WatchTiming
from netchecker_exporter.settings import KubernetesSettings
from tests.support.kube_access import FAST, TOKEN, SourceFactory, write_kubeconfig
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.tls import make_server_pki


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def apiserver(cluster: FakeCluster) -> Iterator[FakeKubeApiServer]:
    server = FakeKubeApiServer(cluster, token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(tmp_path: Path, apiserver: FakeKubeApiServer) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", apiserver.url, TOKEN)


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
    return make_server_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_apiserver(cluster: FakeCluster, pki: Path) -> Iterator[FakeKubeApiServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    server = FakeKubeApiServer(cluster, token=TOKEN, tls=context).start()
    yield server
    server.stop()
