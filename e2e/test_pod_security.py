"""Pod Security admission (on by default in kube-apiserver) against the chart's pods, created for real.

The server's pod meets the restricted profile, in each of its pod shapes (alone, with the etcd
sidecar, a sharded StatefulSet's); the pod-network agent does too. The host-network agent needs
privileged: restricted refuses it, a privileged namespace admits it (charts/netchecker/README.md says so).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.chart_modes import MODES, PRIVILEGED_NAMESPACE
from e2e.cluster import Cluster
from e2e.helm import Helm, Values
from e2e.kube_client import Object

RESTRICTED_NAMESPACE = "netchecker-restricted"


def namespace(name: str, level: str) -> Object:
    labels = {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


@pytest.fixture(scope="module")
def namespaces(cluster: Cluster) -> Iterator[None]:
    for obj in (namespace(RESTRICTED_NAMESPACE, "restricted"), namespace(PRIVILEGED_NAMESPACE, "privileged")):
        cluster.admin.apply(obj)
    yield
    cluster.admin.delete(namespace(RESTRICTED_NAMESPACE, "restricted"), expect=(200, 202, 404))


def pod_of(workload: Object, name: str) -> Object:
    """The pod a controller would make from `workload`, on a node (no scheduler here)."""
    template = workload["spec"]["template"]
    metadata = {**template["metadata"], "name": name, "namespace": workload["metadata"]["namespace"]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {**template["spec"], "nodeName": "node-psa"},
    }


def rendered(helm: Helm, cluster: Cluster, values: Values) -> list[Object]:
    """The chart in the restricted namespace, its ServiceAccounts applied (pods need theirs)."""
    objects = helm.template(values, namespace=RESTRICTED_NAMESPACE)
    for account in (o for o in objects if o["kind"] == "ServiceAccount"):
        cluster.admin.apply(account)
    return objects


def workload(objects: list[Object], kind: str, name: str) -> Object:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def create(cluster: Cluster, pod: Object, expect: tuple[int, ...]) -> Object:
    path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods"
    answer: Object = cluster.admin.call("POST", path, json=pod, expect=expect)
    return answer


@pytest.mark.parametrize(("mode", "kind"), [("memory", "Deployment"), ("etcd-sidecar", "Deployment"),
                                           ("sharded", "StatefulSet")])  # fmt: skip
def test_the_restricted_namespace_admits_the_server_pod(
    cluster: Cluster, helm: Helm, namespaces: None, mode: str, kind: str
) -> None:
    server = workload(rendered(helm, cluster, MODES[mode]), kind, "netchecker-server")
    pod = create(cluster, pod_of(server, f"netchecker-server-{mode}"), expect=(201,))
    try:
        expected = ["netchecker-server"] + (["etcd"] if mode == "etcd-sidecar" else [])
        assert [c["name"] for c in pod["spec"]["containers"]] == expected
        assert pod["metadata"]["namespace"] == RESTRICTED_NAMESPACE
    finally:
        cluster.admin.delete(pod, grace_seconds=0)


def test_the_restricted_namespace_admits_the_pod_network_agent(
    cluster: Cluster, helm: Helm, namespaces: None
) -> None:
    daemonset = workload(rendered(helm, cluster, {}), "DaemonSet", "netchecker-agent")
    pod = create(cluster, pod_of(daemonset, "netchecker-agent-psa"), expect=(201,))
    cluster.admin.delete(pod, grace_seconds=0)


def test_the_host_network_agent_is_refused_by_restricted_and_admitted_by_privileged(
    cluster: Cluster, helm: Helm, namespaces: None
) -> None:
    refused = workload(rendered(helm, cluster, {}), "DaemonSet", "netchecker-agent-hostnet")
    answer = create(cluster, pod_of(refused, "netchecker-agent-hostnet-psa"), expect=(403,))
    assert 'violates PodSecurity "restricted:latest"' in answer["message"]
    assert "hostNetwork=true" in answer["message"]
    values = {"agents": {"hostNetwork": {"namespace": PRIVILEGED_NAMESPACE}}}
    admitted = workload(rendered(helm, cluster, values), "DaemonSet", "netchecker-agent-hostnet")
    assert admitted["metadata"]["namespace"] == PRIVILEGED_NAMESPACE
    pod = create(cluster, pod_of(admitted, "netchecker-agent-hostnet-psa"), expect=(201,))
    cluster.admin.delete(pod, grace_seconds=0)
