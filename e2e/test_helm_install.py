"""`helm install` and `helm uninstall` of the chart against the real kube-apiserver, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.cluster import Cluster
from e2e.helm import CHART, Helm
from e2e.kube_client import Object
from e2e.label_selectors import selector_text

NAMESPACE = "netchecker-helm"
# Namespaced RBAC: the cluster fixture's ClusterRole netchecker-server is not this release's to own.
VALUES = {"rbac": {"clusterWide": False}, "store": {"type": "etcd-sidecar"}}


def deployment(namespace: str = NAMESPACE, kind: str = "Deployment") -> Object:
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": "netchecker-server", "namespace": namespace}}  # fmt: skip


SHARDED_NAMESPACE = "netchecker-helm-sharded"
SHARDED_VALUES = {
    "rbac": {"clusterWide": False},
    "server": {"replicas": 3, "sharding": {"enabled": True}},
    "store": {"type": "etcd-external", "etcdExternal": {"endpoints": ["https://etcd-0.example:2379"]}},
}


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


def test_a_sharded_install_makes_a_statefulset_its_headless_service_and_budget(
    cluster: Cluster, helm: Helm, kubeconfig: Path
) -> None:
    """The API server keeps what the chart asks for (no controller runs here: no pods are made)."""
    install = helm.run("install", "netchecker", str(CHART), "--namespace", SHARDED_NAMESPACE,
                       "--create-namespace", values=SHARDED_VALUES, kubeconfig=kubeconfig)  # fmt: skip
    assert install.returncode == 0, install.output
    assert "3 replicas, each exporting one shard of /metrics" in install.stdout  # NOTES
    try:
        statefulset = cluster.admin.get(deployment(SHARDED_NAMESPACE, "StatefulSet"))
        assert (statefulset["spec"]["replicas"], statefulset["spec"]["serviceName"]) == (
            3,
            "netchecker-server",
        )
        (container,) = statefulset["spec"]["template"]["spec"]["containers"]
        assert container["args"][-2:] == ["-total-shards=3", "-pod=$(POD_NAME)"]
        assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert cluster.admin.get(deployment(SHARDED_NAMESPACE), expect=(404,))["reason"] == "NotFound"
        services = cluster.admin.call("GET", f"/api/v1/namespaces/{SHARDED_NAMESPACE}/services")["items"]
        cluster_ips = {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in services}
        assert cluster_ips["netchecker-server"] == "None" and cluster_ips["netchecker-service"] != "None"
        budget_ref = {"name": "netchecker-server", "namespace": SHARDED_NAMESPACE}
        budget = cluster.admin.get(
            {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": budget_ref}
        )
        assert budget["spec"]["selector"] == statefulset["spec"]["selector"]
        monitored = {**SHARDED_VALUES, "serviceMonitor": {"enabled": True}}
        (monitor,) = [o for o in helm.template(monitored, namespace=SHARDED_NAMESPACE)
                      if o["kind"] == "ServiceMonitor"]  # fmt: skip
        query = {"labelSelector": selector_text(monitor["spec"]["selector"])}
        selected = cluster.admin.call("GET", f"/api/v1/namespaces/{SHARDED_NAMESPACE}/services", params=query)
        assert [s["metadata"]["name"] for s in selected["items"]] == ["netchecker-service"]
    finally:
        uninstall = helm.run(
            "uninstall", "netchecker", "--namespace", SHARDED_NAMESPACE, kubeconfig=kubeconfig
        )
    assert uninstall.returncode == 0, uninstall.output
    gone = cluster.admin.get(deployment(SHARDED_NAMESPACE, "StatefulSet"), expect=(404,))
    assert gone["reason"] == "NotFound"


def test_sharding_on_the_memory_store_is_refused_at_install(
    cluster: Cluster, helm: Helm, kubeconfig: Path
) -> None:
    values = {"rbac": {"clusterWide": False}, "server": {"replicas": 2, "sharding": {"enabled": True}}}
    install = helm.run("install", "netchecker-bad", str(CHART), "--namespace", "netchecker-helm-bad",
                       "--create-namespace", values=values, kubeconfig=kubeconfig)  # fmt: skip
    assert install.returncode != 0
    assert "at '/store/type': value must be 'etcd-external'" in install.stderr
    assert "at '/server/replicas': value must be 1" in install.stderr
    gone = cluster.admin.get(deployment("netchecker-helm-bad", "StatefulSet"), expect=(404,))
    assert gone["reason"] == "NotFound"
