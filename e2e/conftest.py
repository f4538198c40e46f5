"""Fixtures of the real-peer scenarios (`make e2e`): one cluster per session, the rest per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from e2e.agents import AgentProcess
from e2e.cluster import Cluster, start_cluster, stop_cluster
from e2e.helm import Helm
from e2e.kube_client import Object
from e2e.peers import Peers, find_peers
from tests.support.etcd import EtcdProcess, make_cluster, stop_all
from tests.support.exporter import ExporterProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the real peers e2e/build-peers builds (make e2e)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def peers() -> Peers:
    return find_peers()


@pytest.fixture(scope="session")
def helm(peers: Peers) -> Helm:
    return Helm(peers.helm)


@pytest.fixture(scope="session")
def cluster(peers: Peers, helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(peers.kube_apiserver, helm, tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def store_etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """A second etcd 3.6: the one behind our own report store (-etcd-endpoints)."""
    etcd = EtcdProcess(tmp_path / "store", name="store")
    etcd.start()
    try:
        yield etcd
    finally:
        etcd.kill()


ExporterFactory = Callable[..., ExporterProcess]


@pytest.fixture
def etcd_members(tmp_path: Path) -> Iterator[list[EtcdProcess]]:
    """A three-member etcd cluster on loopback, every member stopped at the end."""
    members = make_cluster(tmp_path / "etcd", 3)
    try:
        yield members
    finally:
        stop_all(members)


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[ExporterFactory]:
    """start(flags...) -> a running exporter; every one started is stopped at the end."""
    started: list[ExporterProcess] = []

    def start(*flags: str) -> ExporterProcess:
        process = ExporterProcess(*flags, log_path=tmp_path / f"exporter-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


AgentFactory = Callable[..., AgentProcess]


@pytest.fixture
def agents(peers: Peers, tmp_path: Path) -> Iterator[AgentFactory]:
    """start(pod, node, server, interval[, container_args]) -> a running agent process; all are killed
    at the end."""
    started: list[AgentProcess] = []

    def start(
        pod: str,
        node: str,
        server: str,
        interval: int,
        container_args: Sequence[str] = ("-logtostderr", "-v=5"),
    ) -> AgentProcess:
        agent = AgentProcess(peers.agent, pod, node, server, interval, tmp_path, container_args)
        started.append(agent)
        return agent.start()

    yield start
    for agent in started:
        agent.kill()


PodFactory = Callable[..., Object]


@pytest.fixture
def pods(cluster: Cluster) -> Iterator[PodFactory]:
    """create(name, node, host_network=..., running=...) -> an agent pod; all are removed at the end."""
    created: list[str] = []

    def create(name: str, node: str, *, host_network: bool = False, running: bool = True) -> Object:
        created.append(name)
        return cluster.create_agent_pod(name, node, host_network=host_network, running=running)

    yield create
    for name in created:
        if cluster.pod(name) is not None:
            cluster.delete_pod(name, grace_seconds=0)
