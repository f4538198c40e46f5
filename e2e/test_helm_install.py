"""`helm install` and `helm uninstall` of the chart against the real kube-apiserver, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.cluster import Cluster
from e2e.helm import CHART, Helm
from e2e.kube_client import Object

NAMESPACE = "netchecker-helm"
# Namespaced RBAC: the cluster fixture's ClusterRole netchecker-server is not this release's to own.
VALUES = {"rbac": {"clusterWide": False}, "store": {"type": "etcd-sidecar"}}


def deployment(namespace: str = NAMESPACE) -> Object:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "netchecker-server", "namespace": namespace}}  # fmt: skip


EVENTS_ROLE_IN_DEFAULT = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": f"netchecker-server-events-{NAMESPACE}", "namespace": "default"},
}
"""With rbac.clusterWide=false the Events grant where node Events live: outside the release namespace."""


@pytest.fixture
def kubeconfig(cluster: Cluster, tmp_path: Path) -> Path:
    return cluster.apiserver.kubeconfig(cluster.apiserver.admin_token, tmp_path / "kubeconfig")


def test_install_creates_the_release_and_uninstall_removes_it(
    cluster: Cluster, helm: Helm, kubeconfig: Path
) -> None:
    install = helm.run("install", "netchecker", str(CHART), "--namespace", NAMESPACE, "--create-namespace",
                       values=VALUES, kubeconfig=kubeconfig)  # fmt: skip
    assert install.returncode == 0, install.output
    assert "STATUS: deployed" in install.stdout
    try:
        created = cluster.admin.get(deployment())
        containers = created["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in containers] == ["netchecker-server", "etcd"]
        assert "-namespace=netchecker-helm" in containers[0]["args"]
        assert created["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert cluster.admin.get(EVENTS_ROLE_IN_DEFAULT)["rules"][0]["verbs"] == ["create", "patch"]
        assert f"kubectl -n default get role netchecker-server-events-{NAMESPACE}" in install.stdout  # NOTES
    finally:
        uninstall = helm.run("uninstall", "netchecker", "--namespace", NAMESPACE, kubeconfig=kubeconfig)
    assert uninstall.returncode == 0, uninstall.output
    assert cluster.admin.get(deployment(), expect=(404,))["reason"] == "NotFound"
    assert cluster.admin.get(EVENTS_ROLE_IN_DEFAULT, expect=(404,))["reason"] == "NotFound"


def test_install_with_bad_values_fails_with_helms_message_and_creates_nothing(
    cluster: Cluster, helm: Helm, kubeconfig: Path
) -> None:
    values = {**VALUES, "server": {"replicas": 2}}
    install = helm.run("install", "netchecker-bad", str(CHART), "--namespace", "netchecker-helm-bad",
                       "--create-namespace", values=values, kubeconfig=kubeconfig)  # fmt: skip
    assert install.returncode != 0
    assert "at '/server/replicas': value must be 1" in install.stderr
    assert cluster.admin.get(deployment("netchecker-helm-bad"), expect=(404,))["reason"] == "NotFound"
