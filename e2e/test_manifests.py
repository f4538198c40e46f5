"""Every object of every chart mode is accepted by the real API server (server-side dry-run apply)."""

from __future__ import annotations

import pytest

from e2e.chart_modes import MODES, OPERATOR_KINDS, PRIVILEGED_NAMESPACE
from e2e.cluster import Cluster
from e2e.helm import Helm
from e2e.kube_client import Object


@pytest.fixture(scope="module")
def privileged_namespace(cluster: Cluster) -> str:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PRIVILEGED_NAMESPACE,
                 "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}  # fmt: skip
    cluster.admin.apply(namespace)
    return PRIVILEGED_NAMESPACE


@pytest.mark.parametrize("mode", list(MODES))
def test_every_object_of_the_mode_is_accepted_by_server_side_dry_run(
    cluster: Cluster, helm: Helm, privileged_namespace: str, mode: str
) -> None:
    objects = [obj for obj in helm.template(MODES[mode]) if obj["kind"] not in OPERATOR_KINDS]
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds.count("DaemonSet") == 2 and "PodDisruptionBudget" in kinds
    assert ("StatefulSet" in kinds) is (mode == "sharded") and ("Deployment" in kinds) is (mode != "sharded")
    for obj in objects:
        answer = cluster.admin.apply(obj, dry_run=True)
        assert (answer["kind"], answer["metadata"]["name"]) == (obj["kind"], obj["metadata"]["name"])
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet"}:
            assert containers(answer) == containers(obj)


def containers(workload: Object) -> list[tuple[str, list[str], dict[str, object]]]:
    """What the API server kept of each container: its name, arguments and resources."""
    return [
        (c["name"], c.get("args", c.get("command", [])), c["resources"])
        for c in workload["spec"]["template"]["spec"]["containers"]
    ]


def test_a_dry_run_creates_nothing(cluster: Cluster, helm: Helm) -> None:
    deployment = next(obj for obj in helm.template(MODES["etcd-external"]) if obj["kind"] == "Deployment")
    cluster.admin.apply(deployment, dry_run=True)
    assert cluster.admin.get(deployment, expect=(404,))["reason"] == "NotFound"


def test_a_misspelt_field_is_rejected_so_acceptance_means_something(cluster: Cluster, helm: Helm) -> None:
    daemonset = next(obj for obj in helm.template() if obj["kind"] == "DaemonSet")
    daemonset["spec"]["template"]["spec"]["hostNetwrok"] = True
    # v1.37 answers an apply patch that does not fit the schema with 500, not 400 or 422
    answer = cluster.admin.apply(daemonset, dry_run=True, expect=(400, 422, 500))
    assert ".spec.template.spec.hostNetwrok: field not declared in schema" in answer["message"]
