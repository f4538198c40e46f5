"""Who the writer is and where its Lease lives; no writer when both writes are off or no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.kube_writes import assembly
from netchecker_exporter.kube_writes.assembly import build_kube_writer, lease_namespace, writer_identity
from netchecker_exporter.pods.cluster_access import ClusterAccess
from netchecker_exporter.settings import load_settings

IN_CLUSTER = ClusterAccess(None, "in-cluster")
KUBECONFIG = ClusterAccess("/etc/kubeconfig", "-kubeconfig")


@pytest.mark.parametrize(
    ("argv", "access", "file_text", "expected"),
    [
        (["-lease-namespace=ops"], IN_CLUSTER, "netchecker", "ops"),
        ([], IN_CLUSTER, "netchecker\n", "netchecker"),
        ([], KUBECONFIG, "netchecker", "default"),
        (["-namespace=agents"], KUBECONFIG, "", "agents"),
    ],
)
def test_the_lease_lives_in_the_flag_or_our_pod_or_the_watched_or_the_default_namespace(
    argv: list[str], access: ClusterAccess, file_text: str, expected: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    path = tmp_path / "namespace"
    path.write_text(file_text)
    monkeypatch.setattr(assembly, "SERVICE_NAMESPACE_PATH", path)
    assert lease_namespace(load_settings(argv, {}, lambda _p: ""), access) == expected


def test_the_summary_event_is_about_our_pod_in_a_cluster_and_our_namespace_outside() -> None:
    inside = writer_identity("netchecker-server-7d9f", "netchecker", IN_CLUSTER)
    assert inside.server == {"apiVersion": "v1", "kind": "Pod", "namespace": "netchecker",
                             "name": "netchecker-server-7d9f"}  # fmt: skip
    assert inside.server_event_namespace == "netchecker"
    outside = writer_identity("laptop", "netchecker", KUBECONFIG)
    assert outside.server == {"apiVersion": "v1", "kind": "Namespace", "name": "netchecker"}
    assert outside.server_event_namespace == "default"  # an Event about a cluster-scoped object


@pytest.mark.parametrize(
    "argv", [["-events=false"], ["-pods-file=pods.yml"], []], ids=["both off", "static pods", "no cluster"]
)
def test_no_writer_without_writes_or_a_cluster(argv: list[str]) -> None:
    built = build_kube_writer(load_settings(argv, {}, lambda _p: ""), {}, CollectorRegistry())
    assert built is None
