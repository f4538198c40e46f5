"""config/kubernetes (charts/netchecker rendered): valid against the bundled OpenAPI schemas, faithful to
kubespray's deployment. `make e2e` holds these files to the chart's output (e2e/test_chart.py)."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from tests.support.paths import REPO, RULES_FILE
from tests.support.yaml_text import load_yaml, load_yaml_documents

KUBE_DIR = REPO / "config" / "kubernetes"
PROMETHEUS_OPERATOR_FILE = KUBE_DIR / "prometheus-operator" / "netchecker.yaml"
KUBERNETES_VERSIONS = [f"1.{minor}.0" for minor in range(25, 38)]
KUBESPRAY_SERVER_ARGS = [
    "-v=5",
    "-logtostderr",
    "-kubeproxyinit=false",
    "-endpoint=0.0.0.0:8081",
    "-etcd-endpoints=http://127.0.0.1:2379",
]
AGENT_ARGS = [
    "-v=5",
    "-alsologtostderr=true",
    "-serverendpoint=netchecker-service:8081",
    "-reportinterval=10",
]
AGENT_IMAGE = "mirantis/k8s-netchecker-agent:v1.2.2"


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in load_yaml_documents(path.read_text()) if doc]


def apply_json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 add / remove / replace, all kustomize's JSON patches here use."""
    result = copy.deepcopy(document)
    for operation in operations:
        *parents, last = [
            part.replace("~1", "/").replace("~0", "~") for part in operation["path"][1:].split("/")
        ]
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = last if isinstance(node, dict) else (len(node) if last == "-" else int(last))
        if operation["op"] == "remove":
            del node[key]
        elif operation["op"] == "add" and isinstance(node, list):
            node.insert(key, copy.deepcopy(operation["value"]))
        elif operation["op"] in {"add", "replace"}:
            node[key] = copy.deepcopy(operation["value"])
        else:
            raise ValueError(f"unsupported operation {operation['op']}")
    return result


def build_kustomization(directory: Path) -> list[dict[str, Any]]:
    """The subset of kustomize these kustomizations use: resources, namespace, images, JSON patches."""
    kustomization = load_yaml((directory / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        documents += build_kustomization(path) if path.is_dir() else load_documents(path)
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        operations = load_yaml((directory / patch["path"]).read_text())
        documents = [
            apply_json_patch(doc, operations)
            if (doc["kind"], doc["metadata"]["name"]) == (target["kind"], target["name"])
            else doc
            for doc in documents
        ]
    for doc in documents:
        if "namespace" in kustomization and doc["kind"] not in {
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
        }:
            doc["metadata"]["namespace"] = kustomization["namespace"]
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for image in kustomization.get("images", []):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return documents


VARIANTS = {
    "base": KUBE_DIR,
    "external-etcd": KUBE_DIR / "external-etcd",
    "node-conditions": KUBE_DIR / "node-conditions",
}
BUILT = {name: build_kustomization(directory) for name, directory in VARIANTS.items()}


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)


def pod_spec(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(documents, kind, name)["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def schemas_read_once() -> Iterator[None]:
    """kubernetes_validate parses a version's 1.3 MB _definitions.json again for every document it
    validates (about 10 s of CPU over the 39 cases); the files do not change, so each is parsed once."""
    with pytest.MonkeyPatch.context() as patch:
        read = functools.cache(kubernetes_validate.utils.schema_contents)
        patch.setattr(kubernetes_validate.utils, "schema_contents", read)
        yield


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.usefixtures("schemas_read_once")
def test_manifests_validate_against_kubernetes_openapi_schema(variant: str, version: str) -> None:
    for document in BUILT[variant]:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path))
            pytest.fail(
                f"{document['kind']}/{document['metadata']['name']} on {version}: {where}: {error.message}"
            )


@pytest.mark.parametrize("directory", sorted(p.parent.name for p in KUBE_DIR.glob("*/kustomization.yaml")))
def test_every_kustomization_lists_every_manifest_file_of_its_directory(directory: str) -> None:
    listed = set(load_yaml((KUBE_DIR / directory / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in (KUBE_DIR / directory).glob("*.yaml")} - {"kustomization.yaml"}
    assert {name for name in listed if not name.startswith("../")} == files


def test_the_namespace_admits_the_host_network_agent() -> None:
    """hostNetwork is refused by Pod Security baseline and restricted: the agents' namespace is privileged."""
    namespace = find(BUILT["base"], "Namespace", "netchecker")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl not installed: kustomize cross-check skipped"
)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_our_kustomize_subset_agrees_with_kubectl_kustomize(variant: str) -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(VARIANTS[variant])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731
    assert sorted(load_documents_from_text(built), key=key) == sorted(BUILT[variant], key=key)


def load_documents_from_text(text: str) -> list[dict[str, Any]]:
    return [doc for doc in load_yaml_documents(text) if doc]


def test_server_runs_with_kubesprays_arguments_and_an_etcd_sidecar() -> None:
    spec = pod_spec(BUILT["base"], "Deployment", "netchecker-server")
    server, etcd = spec["containers"]
    assert server["args"] == KUBESPRAY_SERVER_ARGS
    assert "--listen-client-urls=http://127.0.0.1:2379" in etcd["command"]
    assert server["ports"] == [{"name": "http", "containerPort": 8081, "protocol": "TCP"}]


def test_external_etcd_variant_has_no_sidecar_and_uses_tls() -> None:
    spec = pod_spec(BUILT["external-etcd"], "Deployment", "netchecker-server")
    assert [c["name"] for c in spec["containers"]] == ["netchecker-server"]
    args = spec["containers"][0]["args"]
    assert args[:4] == KUBESPRAY_SERVER_ARGS[:4]
    assert any(a.startswith("-etcd-endpoints=https://") for a in args)
    assert {"-etcd-ca", "-etcd-cert", "-etcd-key"} <= {a.split("=")[0] for a in args}
    assert [v["name"] for v in spec["volumes"]] == ["etcd-client"]


def test_server_probes_health_and_readiness_and_runs_as_non_root() -> None:
    spec = pod_spec(BUILT["base"], "Deployment", "netchecker-server")
    server = spec["containers"][0]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0


@pytest.mark.parametrize(
    ("name", "host_network"), [("netchecker-agent", False), ("netchecker-agent-hostnet", True)]
)
def test_agent_daemonsets_match_the_original_agent(name: str, host_network: bool) -> None:
    daemonset = find(BUILT["base"], "DaemonSet", name)
    spec = daemonset["spec"]["template"]["spec"]
    assert daemonset["spec"]["template"]["metadata"]["labels"]["app"] == name
    (agent,) = spec["containers"]
    assert agent["image"] == AGENT_IMAGE
    assert agent["args"] == AGENT_ARGS
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in agent["env"]}
    assert env == {"MY_POD_NAME": "metadata.name", "MY_NODE_NAME": "spec.nodeName"}
    assert spec.get("hostNetwork", False) is host_network
    if host_network:
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_container_requests_resources_and_drops_privileges(variant: str) -> None:
    for doc in BUILT[variant]:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_service_keeps_the_original_name_and_port_and_is_scrapable() -> None:
    service = find(BUILT["base"], "Service", "netchecker-service")
    assert [p["port"] for p in service["spec"]["ports"]] == [8081]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8081"
    server = find(BUILT["base"], "Deployment", "netchecker-server")
    assert service["spec"]["selector"].items() <= server["spec"]["template"]["metadata"]["labels"].items()


def test_server_may_only_list_and_watch_pods() -> None:
    role = find(BUILT["base"], "ClusterRole", "netchecker-server")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]
    binding = find(BUILT["base"], "ClusterRoleBinding", "netchecker-server")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "netchecker-server", "namespace": "netchecker"}
    ]


def test_the_writers_get_their_own_grants_and_node_status_only_when_opted_in() -> None:
    """docs/events.md: Events and the Lease in the base, nodes/status in node-conditions only."""
    rules = {
        (doc["kind"], doc["metadata"]["name"]): doc["rules"]
        for doc in BUILT["base"]
        if doc["kind"] in {"ClusterRole", "Role"}
    }
    assert rules[("ClusterRole", "netchecker-server-events")] == [
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}
    ]
    assert rules[("Role", "netchecker-server-leader")] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]
    assert not any(
        "nodes" in r or "nodes/status" in r for rs in rules.values() for rule in rs for r in rule["resources"]
    )
    opted = find(BUILT["node-conditions"], "ClusterRole", "netchecker-server-node-conditions")["rules"]
    assert opted == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    ]
    args = pod_spec(BUILT["node-conditions"], "Deployment", "netchecker-server")["containers"][0]["args"]
    assert "-node-conditions" in args


def test_the_node_conditions_variant_is_the_base_plus_its_grant_and_flag() -> None:
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731
    base, opted = ({key(doc): doc for doc in BUILT[name]} for name in ("base", "node-conditions"))
    added = {("ClusterRole", "netchecker-server-node-conditions"),
             ("ClusterRoleBinding", "netchecker-server-node-conditions")}  # fmt: skip
    assert set(opted) == set(base) | added
    binding = opted[("ClusterRoleBinding", "netchecker-server-node-conditions")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "netchecker-server", "namespace": "netchecker"}
    ]
    server = ("Deployment", "netchecker-server")
    args = pod_spec(BUILT["node-conditions"], *server)["containers"][0]["args"]
    assert args == [*KUBESPRAY_SERVER_ARGS, "-node-conditions"]
    assert [k for k in base if k != server and opted[k] != base[k]] == []


def test_network_policy_lets_agents_and_prometheus_reach_port_8081_only() -> None:
    policy = find(BUILT["base"], "NetworkPolicy", "netchecker-server")
    ingress = policy["spec"]["ingress"]
    assert all(rule["ports"] == [{"protocol": "TCP", "port": 8081}] for rule in ingress)
    sources = [source for rule in ingress for source in rule["from"]]
    assert {"podSelector": {"matchLabels": {"app": "netchecker-agent"}}} in sources
    assert any("namespaceSelector" in source for source in sources)
    assert any("ipBlock" in source for source in sources), "host-network agents come from node addresses"


def test_prometheus_rule_holds_exactly_the_alert_rules() -> None:
    rule = find(load_documents(PROMETHEUS_OPERATOR_FILE), "PrometheusRule", "netchecker")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == load_yaml(RULES_FILE.read_text())


def test_service_monitor_honors_the_servers_labels_on_the_service_port() -> None:
    monitor = find(load_documents(PROMETHEUS_OPERATOR_FILE), "ServiceMonitor", "netchecker")
    service = find(BUILT["base"], "Service", "netchecker-service")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
