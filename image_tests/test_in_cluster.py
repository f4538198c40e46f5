"""In a pod: the image finds the API server as a pod does (service account files and
KUBERNETES_SERVICE_*), and lists and watches agent pods of a real kube-apiserver with the
synchronous kubernetes client that the Dockerfile keeps when it drops the asyncio one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.cluster import EXPORTER_ACCOUNT, NAMESPACE, Cluster, start_cluster, stop_cluster
from e2e.helm import Helm
from e2e.peers import find_peers
from image_tests.served import ServedImage, captured_report
from tests.support.etcd import EtcdProcess
from tests.support.polling import wait_until

pytestmark = pytest.mark.image

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
POD_SECONDS = 60
"""A listed or watched pod shows at the next pass (10 s with kubespray's flags); generous for a
shared machine. A new pod is `starting` for -startup-grace (120 s), then `absent` if silent."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """kube-apiserver 1.37 from e2e/build-peers' cache, with the project's RBAC applied."""
    peers = find_peers()
    cluster = start_cluster(peers.kube_apiserver, Helm(peers.helm), tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def service_account_files(cluster: Cluster, directory: Path) -> Path:
    """What the kubelet mounts into a pod of the exporter's ServiceAccount, readable by uid 10001."""
    directory.mkdir(mode=0o755)
    files = {
        "token": cluster.admin.service_account_token(NAMESPACE, EXPORTER_ACCOUNT),
        "ca.crt": cluster.apiserver.tls.ca.read_text(),
        "namespace": NAMESPACE,
    }
    for name, content in files.items():
        (directory / name).write_text(content)
        (directory / name).chmod(0o644)
    return directory


def agent_states(served: ServedImage) -> dict[str, str]:
    """pod -> starting / fresh / outdated / absent, from netchecker_agent_status in /metrics."""
    states: dict[str, str] = {}
    for family in text_string_to_metric_families(served.get("/metrics").text):
        if family.name == "netchecker_agent_status":
            states.update({s.labels["pod"]: s.labels["status"] for s in family.samples if s.value == 1})
    return states


def test_in_a_pod_it_lists_agent_pods_through_its_service_account(
    image: str, etcd: EtcdProcess, cluster: Cluster, tmp_path: Path
) -> None:
    secrets = service_account_files(cluster, tmp_path / "serviceaccount")
    created = [cluster.create_agent_pod("netchecker-agent-image-listed", "node-image")["metadata"]["name"]]
    served = ServedImage.start(
        image,
        etcd.url,
        *("--volume", f"{secrets}:{SERVICE_ACCOUNT_DIR}:ro"),
        *("--env", "KUBERNETES_SERVICE_HOST=127.0.0.1"),
        *("--env", f"KUBERNETES_SERVICE_PORT={cluster.apiserver.port}"),
    )
    try:
        wait_for(served, lambda: agent_states(served).get(created[0]) == "starting", f"{created[0]} listed")
        created.append(
            cluster.create_agent_pod("netchecker-agent-image-watched", "node-image")["metadata"]["name"]
        )
        wait_for(served, lambda: agent_states(served).get(created[1]) == "starting", f"{created[1]} watched")
        assert (
            served.post_report({**captured_report(created[0]), "nodename": "node-image"}).status_code == 200
        )
        wait_for(served, lambda: agent_states(served).get(created[0]) == "fresh", f"{created[0]} fresh")
        assert "in-cluster" in served.container.logs()
    finally:
        served.container.remove()
        for pod in created:
            cluster.delete_pod(pod, grace_seconds=0)


def wait_for(served: ServedImage, condition: Callable[[], bool], what: str) -> None:
    """wait_until, with the server's log in the failure."""
    try:
        wait_until(condition, POD_SECONDS, what, interval_seconds=0.5)
    except TimeoutError as error:
        reply = served.get("/api/v1/connectivity_check").text
        raise AssertionError(
            f"{error}; connectivity_check: {reply}\n{served.container.logs()[-4000:]}"
        ) from error
