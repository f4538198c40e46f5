"""RBAC: the exporter runs on its own ServiceAccount's token, with exactly the project's grants."""

from __future__ import annotations

from pathlib import Path

from e2e.cluster import EXPORTER_ACCOUNT, NAMESPACE, Cluster
from e2e.conftest import ExporterFactory, PodFactory
from e2e.kube_client import objects_of_kind
from e2e.states import agent_states, pod_source_up
from tests.support.polling import wait_until

MISSING_GRANT = 'grant the exporter\'s service account RBAC verbs ["list", "watch"] on resource "pods"'


def can(cluster: Cluster, verb: str, resource: str, namespace: str = "") -> bool:
    """SubjectAccessReview, asked as the admin, for the exporter's ServiceAccount."""
    user = f"system:serviceaccount:{NAMESPACE}:{EXPORTER_ACCOUNT}"
    attributes = {"verb": verb, "resource": resource, "namespace": namespace}
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated"]
    spec = {"user": user, "groups": groups, "resourceAttributes": attributes}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
    answer = cluster.admin.call("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    return bool(answer["status"].get("allowed"))


def test_the_project_grants_list_and_watch_pods_everywhere_and_nothing_else(cluster: Cluster) -> None:

    assert can(cluster, "list", "pods") and can(cluster, "watch", "pods")
    assert can(cluster, "list", "pods", "kube-system")
    assert not any(can(cluster, verb, "pods") for verb in ("create", "delete", "patch"))
    assert not can(cluster, "get", "secrets", NAMESPACE)


def test_the_exporter_watches_pods_with_its_service_account_token(
    cluster: Cluster, exporter: ExporterFactory, pods: PodFactory, tmp_path: Path
) -> None:
    pods("netchecker-agent-rbac-1", "node-rbac")
    kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
    # The Lease (docs/events.md) in our namespace, where the project's Role grants it.
    process = exporter(f"-kubeconfig={kubeconfig}", "-check-interval=1", "-startup-grace=300",
                       f"-lease-namespace={NAMESPACE}")  # fmt: skip
    wait_until(lambda: agent_states(process).get("netchecker-agent-rbac-1") == "starting", 20,
               "the listed pod to be starting")  # fmt: skip
    pods("netchecker-agent-rbac-2", "node-rbac")  # seen through the watch, not the first list
    wait_until(lambda: "netchecker-agent-rbac-2" in agent_states(process), 20, "the watched pod")
    assert pod_source_up(process) == 1
    wait_until(lambda: process.metric("netchecker_leader") == 1, 20, "the Lease, with the project's Role")
    assert "forbid" not in process.log().lower()


def test_without_the_binding_it_logs_the_missing_grant_and_recovers_once_granted(
    cluster: Cluster, exporter: ExporterFactory, tmp_path: Path
) -> None:
    binding = cluster.binding()
    cluster.admin.delete(binding)
    try:
        kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
        process = exporter(f"-kubeconfig={kubeconfig}", "-check-interval=1")
        wait_until(lambda: MISSING_GRANT in process.log(), 30, "the missing-grant hint")
        assert "cluster-wide (ClusterRole + ClusterRoleBinding)" in process.log()
        assert pod_source_up(process) == 0
    finally:
        cluster.admin.apply(binding)
    wait_until(lambda: pod_source_up(process) == 1, 60, "the exporter to recover once granted")


def test_with_namespace_a_role_and_rolebinding_are_enough_as_the_docs_say(
    cluster: Cluster, exporter: ExporterFactory, pods: PodFactory, tmp_path: Path
) -> None:
    """docs/kubernetes.md: with -namespace, a Role + RoleBinding with the same rule are enough: the
    chart's rbac.clusterWide=false objects, and the -namespace flag its Deployment passes."""
    binding = cluster.binding()
    namespaced = cluster.helm.template({"rbac": {"clusterWide": False}})
    role, role_binding = [obj for obj in objects_of_kind(namespaced, "Role", "RoleBinding")
                          if obj["metadata"]["name"] == EXPORTER_ACCOUNT]  # fmt: skip
    (deployment,) = objects_of_kind(namespaced, "Deployment")
    (namespace_flag,) = [
        arg for arg in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        if arg.startswith("-namespace=")
    ]  # fmt: skip
    assert namespace_flag == f"-namespace={NAMESPACE}"
    cluster.admin.delete(binding)
    try:
        pods("netchecker-agent-ns-1", "node-ns")
        kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
        process = exporter(f"-kubeconfig={kubeconfig}", "-check-interval=1", namespace_flag)
        wait_until(lambda: f"in namespace {NAMESPACE} (Role + RoleBinding)" in process.log(), 30,
                   "the namespaced missing-grant hint")  # fmt: skip
        cluster.admin.apply(role)
        cluster.admin.apply(role_binding)
        wait_until(lambda: "netchecker-agent-ns-1" in agent_states(process), 60, "the pod, with the Role")
        assert pod_source_up(process) == 1
    finally:
        cluster.admin.apply(binding)
        for obj in (role_binding, role):
            cluster.admin.delete(obj, expect=(200, 202, 404))
