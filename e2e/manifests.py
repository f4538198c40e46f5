"""config/kubernetes/, rendered from charts/netchecker: one chart, and plain manifests for kubectl.

    python -m e2e.manifests   (`make manifests`)   rewrites config/kubernetes/*/netchecker.yaml

Each directory is `helm template` of the chart with the values below; e2e/test_chart.py renders
them again and requires identical bytes, so the manifests never drift from the chart.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from e2e.helm import CHART, Helm, Values
from tests.support.paths import REPO

KUBE_DIR = REPO / "config" / "kubernetes"
ADVERTISED_NODES = 5000
"""What plain manifests are sized for: -max-agents' 12,000 holds 5,000 nodes x 2 agents."""
EXAMPLE_ETCD_ENDPOINTS = [f"https://etcd-{i}.example.internal:2379" for i in range(3)]


@dataclass(frozen=True)
class Variant:
    directory: str
    comment: str
    values: Values
    show_only: tuple[str, ...] = field(default=())


BASE_VALUES: Values = {
    "fleet": {"nodes": ADVERTISED_NODES},
    "store": {"type": "etcd-sidecar"},
    "networkPolicy": {"enabled": True},
}
"""kubespray's shape: the server with an etcd sidecar, sized for the advertised fleet."""

VARIANTS = (
    Variant(
        "base",
        "the server with an etcd sidecar (as kubespray deploys it), both agent DaemonSets, RBAC,\n"
        "# Service, PodDisruptionBudget, NetworkPolicy",
        BASE_VALUES,
    ),
    Variant(
        "external-etcd",
        "the same against an external etcd over TLS, two replicas. Before applying, replace the\n"
        "# example endpoints and create the client certificate Secret:\n"
        "#   kubectl -n netchecker create secret generic netchecker-etcd-client \\\n"
        "#     --from-file=ca.crt --from-file=tls.crt --from-file=tls.key",
        {
            "fleet": {"nodes": ADVERTISED_NODES},
            "server": {"replicas": 2},
            "networkPolicy": {"enabled": True},
            "store": {"type": "etcd-external", "etcdExternal": {"endpoints": EXAMPLE_ETCD_ENDPOINTS}},
        },
    ),
    Variant(
        "node-conditions",
        "the base plus Node conditions (-node-conditions):\n"
        "# a ClusterRole to read the Nodes and patch their status (docs/events.md)",
        {**BASE_VALUES, "nodeConditions": {"enabled": True}},
    ),
    Variant(
        "prometheus-operator",
        "the ServiceMonitor and the PrometheusRule of alerts/netchecker.rules.yml (needs the\n"
        "# prometheus-operator CRDs; your Prometheus' selectors must match their labels)",
        {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
        ("templates/servicemonitor.yaml", "templates/prometheusrule.yaml"),
    ),
)


def variant_named(directory: str) -> Variant:
    return next(variant for variant in VARIANTS if variant.directory == directory)


def header(variant: Variant) -> str:
    return (
        f"# kubectl apply -k config/kubernetes/{variant.directory}: {variant.comment}.\n"
        "# Rendered from charts/netchecker by `make manifests` (values in e2e/manifests.py): do not edit;\n"
        "# `make e2e` renders it again and requires these bytes.\n"
    )


def render(helm: Helm, variant: Variant) -> str:
    show_only = [arg for path in variant.show_only for arg in ("--show-only", path)]
    result = helm.run("template", "netchecker", str(CHART), "--namespace", "netchecker", *show_only,
                      values=variant.values)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"helm template for {variant.directory} failed:\n{result.output}")
    return header(variant) + result.stdout


def manifest_path(variant: Variant) -> Path:
    return KUBE_DIR / variant.directory / "netchecker.yaml"


def main() -> int:
    binary = os.environ.get("NETCHECKER_E2E_HELM") or shutil.which("helm")
    if not binary:
        print("manifests: no helm: set NETCHECKER_E2E_HELM (e2e/build-peers prints it)", file=sys.stderr)
        return 2
    helm = Helm(Path(binary))
    for variant in VARIANTS:
        manifest_path(variant).write_text(render(helm, variant))
        print(f"manifests: wrote {manifest_path(variant).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
