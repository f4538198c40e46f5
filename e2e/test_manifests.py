"""Every object of both deployment variants is accepted by the real API server (server-side dry-run apply)."""

from __future__ import annotations

import pytest

from e2e.cluster import Cluster
from e2e.kube_client import render_kustomization


@pytest.mark.parametrize("variant", ["base", "external-etcd"])
def test_every_object_of_the_variant_is_accepted_by_server_side_dry_run(
    cluster: Cluster, variant: str
) -> None:
    objects = render_kustomization(variant)
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds.count("DaemonSet") == 2 and "Deployment" in kinds and "NetworkPolicy" in kinds
    for obj in objects:
        answer = cluster.admin.apply(obj, dry_run=True)
        assert (answer["kind"], answer["metadata"]["name"]) == (obj["kind"], obj["metadata"]["name"])
        if obj["kind"] == "Deployment":
            assert (
                answer["spec"]["template"]["spec"]["containers"][0]["args"]
                == (obj["spec"]["template"]["spec"]["containers"][0]["args"])
            )


def test_a_dry_run_creates_nothing(cluster: Cluster) -> None:
    deployment = next(obj for obj in render_kustomization("external-etcd") if obj["kind"] == "Deployment")
    cluster.admin.apply(deployment, dry_run=True)
    assert cluster.admin.get(deployment, expect=(404,))["reason"] == "NotFound"


def test_a_misspelt_field_is_rejected_so_acceptance_means_something(cluster: Cluster) -> None:
    daemonset = next(obj for obj in render_kustomization("base") if obj["kind"] == "DaemonSet")
    daemonset["spec"]["template"]["spec"]["hostNetwrok"] = True
    # v1.37 answers an apply patch that does not fit the schema with 500, not 400 or 422
    answer = cluster.admin.apply(daemonset, dry_run=True, expect=(400, 422, 500))
    assert ".spec.template.spec.hostNetwrok: field not declared in schema" in answer["message"]
