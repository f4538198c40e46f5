"""charts/netchecker under the real helm: lint, every mode rendered, bad values refused with helm's
own message, config/kubernetes identical to the chart's output, the sizing against the bench."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from e2e.agents import pod_flags
from e2e.chart_modes import MODES, PRIVILEGED_NAMESPACE
from e2e.helm import CHART, Helm
from e2e.kube_client import Object
from e2e.label_selectors import selector_text
from e2e.manifests import VARIANTS, manifest_path, render
from tests.support.label_selector import parse_selector
from tests.support.paths import DASHBOARD_FILE, REPO, RULES_FILE

KUBESPRAY_SERVER_ARGS = ["-v=5", "-logtostderr", "-kubeproxyinit=false", "-endpoint=0.0.0.0:8081"]
AGENT_ARGS = [
    "-v=5",
    "-alsologtostderr=true",
    "-serverendpoint=netchecker-service:8081",
    "-reportinterval=10",
]
AGENT_ENV = {"MY_POD_NAME": "metadata.name", "MY_NODE_NAME": "spec.nodeName"}
SCHEMA_FAILED = "values don't meet the specifications of the schema(s)"


def find(objects: list[Object], kind: str, name: str) -> Object:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def server_workload(objects: list[Object]) -> Object:
    """The server's Deployment, or its StatefulSet when sharded: the chart renders exactly one."""
    (workload,) = [o for o in objects if o["kind"] in {"Deployment", "StatefulSet"}
                   and o["metadata"]["name"] == "netchecker-server"]  # fmt: skip
    return workload


def server_container(objects: list[Object], name: str = "netchecker-server") -> Object:
    containers = server_workload(objects)["spec"]["template"]["spec"]["containers"]
    container: Object = next(c for c in containers if c["name"] == name)
    return container


@pytest.mark.parametrize("mode", list(MODES))
def test_lint_strict_passes_for_every_mode(helm: Helm, mode: str) -> None:
    result = helm.lint(MODES[mode])
    assert result.returncode == 0, result.output
    assert "0 chart(s) failed" in result.output


BAD_VALUES = [
    ({"fleet": {"nodez": 3}}, "at '/fleet': additional properties 'nodez' not allowed"),
    ({"fleet": {"nodes": "500"}}, "at '/fleet/nodes': got string, want integer"),
    ({"store": {"type": "etcd"}},
     "at '/store/type': value must be one of 'memory', 'etcd-sidecar', 'etcd-external'"),
    ({"server": {"replicas": 2}}, "at '/server/replicas': value must be 1"),
    ({"server": {"replicas": 2}, "store": {"type": "etcd-sidecar"}},
     "at '/server/replicas': value must be 1"),
    ({"store": {"type": "etcd-external"}}, "at '/store/etcdExternal/endpoints': minItems: got 0, want 1"),
    ({"service": {"type": "LoadBalancer"}},
     "at '/service/type': value must be one of 'ClusterIP', 'NodePort'"),
    ({"agents": {"reportIntervalSeconds": 1}},
     "at '/agents/reportIntervalSeconds': minimum: got 1, want 2"),
    ({"serviceMonitor": {"enabled": "yes"}}, "at '/serviceMonitor/enabled': got string, want boolean"),
    ({"events": {"enabled": "yes"}}, "at '/events/enabled': got string, want boolean"),
    ({"events": {"enable": True}}, "at '/events': additional properties 'enable' not allowed"),
    ({"nodeConditions": {"heartbeatSeconds": 30}},
     "at '/nodeConditions/heartbeatSeconds': minimum: got 30, want 60"),
    ({"nodeConditions": {"heartbeatSeconds": "5m"}},
     "at '/nodeConditions/heartbeatSeconds': got string, want integer"),
    ({"rbac": {"clusterWide": False}, "nodeConditions": {"enabled": True}},
     "at '/nodeConditions/enabled': value must be false"),
    ({"server": {"sharding": {"enabled": True}}}, "at '/store/type': value must be 'etcd-external'"),
    ({"server": {"replicas": 2, "sharding": {"enabled": True}}, "store": {"type": "etcd-sidecar"}},
     "at '/store/type': value must be 'etcd-external'"),
    ({"server": {"sharding": {"enabled": "yes"}}}, "at '/server/sharding/enabled': got string, want boolean"),
    ({"server": {"sharding": {"shards": 3}}},
     "at '/server/sharding': additional properties 'shards' not allowed"),
    ({"server": {"replicas": 1025}, "store": {"type": "etcd-external",
                                              "etcdExternal": {"endpoints": ["https://etcd-0:2379"]}}},
     "at '/server/replicas': maximum: got 1,025, want 1,024"),
]  # fmt: skip
"""Bad values and helm's message for each (helm v3.22's JSON-schema validator)."""


@pytest.mark.parametrize(("values", "message"), BAD_VALUES)
def test_bad_values_fail_lint_and_template_with_helms_message(
    helm: Helm, values: dict[str, Any], message: str
) -> None:
    lint = helm.lint(values)
    assert lint.returncode != 0 and message in lint.output, lint.output
    template = helm.run("template", "netchecker", str(CHART), values=values)
    assert template.returncode != 0 and SCHEMA_FAILED in template.stderr and message in template.stderr


def test_agents_outside_a_namespaced_servers_namespace_fail_template_with_a_message(helm: Helm) -> None:
    """A `fail` in a template: helm lint only logs it (lint mode), template and install refuse."""
    values = {"rbac": {"clusterWide": False}, "agents": {"hostNetwork": {"namespace": PRIVILEGED_NAMESPACE}}}
    result = helm.run("template", "netchecker", str(CHART), values=values)
    assert result.returncode != 0
    assert "rbac.clusterWide=false lets the server watch the release namespace only" in result.stderr


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.directory)
def test_config_kubernetes_is_the_chart_rendered(helm: Helm, variant: Any) -> None:
    path = manifest_path(variant)
    assert render(helm, variant) == path.read_text(), (
        f"{path.relative_to(REPO)} is not the chart's output: run `make manifests`"
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_runs_kubesprays_agents_and_server_arguments(helm: Helm, mode: str) -> None:
    objects = helm.template(MODES[mode])
    assert server_container(objects)["args"][:4] == KUBESPRAY_SERVER_ARGS
    for name, host_network in (("netchecker-agent", False), ("netchecker-agent-hostnet", True)):
        daemonset = find(objects, "DaemonSet", name)
        spec = daemonset["spec"]["template"]["spec"]
        assert daemonset["spec"]["selector"]["matchLabels"] == {"app": name}
        assert daemonset["spec"]["template"]["metadata"]["labels"]["app"] == name
        (agent,) = spec["containers"]
        assert agent["image"] == "mirantis/k8s-netchecker-agent:v1.2.2"
        assert {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in agent["env"]} == AGENT_ENV
        assert spec.get("hostNetwork", False) is host_network
        if mode != "everything":
            assert agent["args"] == AGENT_ARGS


def test_the_stores_are_reached_as_configured(helm: Helm) -> None:
    memory = server_container(helm.template(MODES["memory"]))["args"]
    assert not any(a.startswith("-etcd") for a in memory)
    sidecar = helm.template(MODES["etcd-sidecar"])
    assert server_container(sidecar)["args"] == [
        *KUBESPRAY_SERVER_ARGS,
        "-etcd-endpoints=http://127.0.0.1:2379",
    ]
    assert "--listen-client-urls=http://127.0.0.1:2379" in server_container(sidecar, "etcd")["command"]
    external = helm.template(MODES["etcd-external"])
    assert server_container(external)["args"][4:] == [
        "-etcd-endpoints=https://etcd-0.example:2379",
        "-etcd-ca=/etc/netchecker/etcd/ca.crt",
        "-etcd-cert=/etc/netchecker/etcd/tls.crt",
        "-etcd-key=/etc/netchecker/etcd/tls.key",
        "-shutdown-delay=5",  # three replicas: one given SIGTERM leaves the endpoints first
    ]
    deployment = find(external, "Deployment", "netchecker-server")
    assert deployment["spec"]["replicas"] == 3
    assert (
        deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"]
        == "netchecker-etcd-client"
    )


def test_sharding_runs_a_statefulset_whose_pods_name_their_shard(helm: Helm) -> None:
    objects = helm.template(MODES["sharded"])
    statefulset = server_workload(objects)
    assert statefulset["kind"] == "StatefulSet" and statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["serviceName"] == "netchecker-server"
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    container = server_container(objects)
    assert container["args"][-2:] == ["-total-shards=3", "-pod=$(POD_NAME)"]
    assert container["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    ]
    headless = find(objects, "Service", "netchecker-server")
    assert headless["spec"]["clusterIP"] == "None"
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert headless["spec"]["selector"].items() <= pod_labels.items()
    assert "annotations" not in headless["metadata"]


@pytest.mark.parametrize("replicas", [1, 3])
def test_unsharded_replicas_are_a_deployment_that_exports_everything(helm: Helm, replicas: int) -> None:
    values = {**MODES["etcd-external"], "server": {"replicas": replicas}}
    objects = helm.template(values)
    deployment = server_workload(objects)
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == replicas
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    args = server_container(objects)["args"]
    assert not [a for a in args if a.startswith(("-total-shards", "-pod"))]
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Service"] == ["netchecker-service"]
    # With others to take over, a replica given SIGTERM leaves the endpoints first (docs/scaling.md).
    assert ("-shutdown-delay=5" in args) == (replicas > 1)


SERVER_PODS = {"matchLabels": {"app": "netchecker-server"}}
HOSTNAME_ANTI_AFFINITY = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": SERVER_PODS},
            }
        ]
    }
}


@pytest.mark.parametrize(
    ("values", "affinity"),
    [
        (MODES["memory"], None),
        ({**MODES["etcd-external"], "server": {"replicas": 1}}, None),
        (MODES["etcd-external"], HOSTNAME_ANTI_AFFINITY),
        (MODES["sharded"], HOSTNAME_ANTI_AFFINITY),
    ],
    ids=["memory", "external-one-replica", "external-three-replicas", "sharded"],
)
def test_several_replicas_prefer_distinct_nodes(helm: Helm, values: dict[str, Any], affinity: Any) -> None:
    spec = server_workload(helm.template(values))["spec"]["template"]["spec"]
    assert spec.get("affinity") == affinity


def test_the_users_affinity_replaces_the_default_one(helm: Helm) -> None:
    mine = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "role", "operator": "In", "values": ["infra"]}]}]}}}  # fmt: skip
    values = {**MODES["sharded"], "server": {**MODES["sharded"]["server"], "affinity": mine}}
    assert server_workload(helm.template(values))["spec"]["template"]["spec"]["affinity"] == mine


@pytest.mark.parametrize("mode", ["memory", "etcd-sidecar", "etcd-external", "sharded"])
def test_the_disruption_budget_covers_the_server_pods_of_either_kind(helm: Helm, mode: str) -> None:
    objects = helm.template(MODES[mode])
    budget = find(objects, "PodDisruptionBudget", "netchecker-server")
    assert budget["spec"]["maxUnavailable"] == 1
    workload = server_workload(objects)
    assert budget["spec"]["selector"] == workload["spec"]["selector"]
    assert (
        budget["spec"]["selector"]["matchLabels"].items()
        <= workload["spec"]["template"]["metadata"]["labels"].items()
    )


@pytest.mark.parametrize("mode", ["everything", "sharded"])
def test_each_server_pod_is_one_scrape_target(helm: Helm, mode: str) -> None:
    """The ServiceMonitor selects netchecker-service alone (its endpoints: one target per pod), not the
    StatefulSet's headless Service as well; prometheus.io/* sits on that Service and not on the pods,
    so annotation-driven setups (an endpoints job and a pods job) do not scrape each pod twice."""
    objects = helm.template(MODES[mode])
    monitor = parse_selector(selector_text(find(objects, "ServiceMonitor", "netchecker")["spec"]["selector"]))
    services = [o for o in objects if o["kind"] == "Service"]
    scraped = [o["metadata"]["name"] for o in services if monitor.matches(o["metadata"]["labels"])]
    assert scraped == ["netchecker-service"]
    assert (
        find(objects, "Service", "netchecker-service")["metadata"]["annotations"]["prometheus.io/scrape"]
        == "true"
    )
    pod_annotations = server_workload(objects)["spec"]["template"]["metadata"].get("annotations", {})
    assert not [key for key in pod_annotations if key.startswith("prometheus.io/")]


def test_namespaced_rbac_and_node_port(helm: Helm) -> None:
    objects = helm.template(MODES["namespaced-nodeport"])
    role = find(objects, "Role", "netchecker-server")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    assert "-namespace=netchecker" in server_container(objects)["args"]
    service = find(objects, "Service", "netchecker-service")
    assert service["spec"]["type"] == "NodePort" and service["spec"]["ports"][0]["nodePort"] == 31081


def test_the_prometheus_rule_and_the_dashboard_are_the_originals(helm: Helm) -> None:
    objects = helm.template(MODES["everything"])
    rule = find(objects, "PrometheusRule", "netchecker")
    assert rule["spec"] == yaml.safe_load(RULES_FILE.read_text())
    dashboard = find(objects, "ConfigMap", "netchecker-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["netchecker.json"]) == json.loads(DASHBOARD_FILE.read_text())
    monitor = find(objects, "ServiceMonitor", "netchecker")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


def test_the_host_network_agent_goes_to_its_own_namespace_and_finds_the_server(helm: Helm) -> None:
    objects = helm.template(MODES["everything"])
    hostnet = find(objects, "DaemonSet", "netchecker-agent-hostnet")
    assert hostnet["metadata"]["namespace"] == PRIVILEGED_NAMESPACE
    args = hostnet["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "-serverendpoint=netchecker-service.netchecker.svc:8081" in args
    assert "-probeurls=http://example.org/" in args
    accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "ServiceAccount"
    }
    assert (PRIVILEGED_NAMESPACE, "netchecker-agent") in accounts


# Sizing: the runs of charts/netchecker/README.md ("| memory | 10,000 | ... |"), against the chart.
SIZING_ROW = re.compile(r"^\| (memory|etcd) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|", re.MULTILINE)


def measured_runs() -> list[tuple[str, int, float]]:
    """(store, agents, VmHWM MiB) of every run the chart's README prints."""
    text = (CHART / "README.md").read_text()
    runs = [(m[1], int(m[2].replace(",", "")), float(m[4])) for m in SIZING_ROW.finditer(text)]
    assert len(runs) >= 6, "the chart's README lists the sizing runs (store, agents, RSS, VmHWM)"
    return runs


def mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


@pytest.mark.parametrize("run", measured_runs(), ids=lambda r: f"{r[0]}-{r[1]}")
def test_the_memory_limit_holds_every_measured_peak_with_headroom(
    helm: Helm, run: tuple[str, int, float]
) -> None:
    store, agents, peak_mib = run
    values = {
        "fleet": {"nodes": agents // 2},
        "store": {"type": "memory" if store == "memory" else "etcd-sidecar"},
    }
    resources = server_container(helm.template(values))["resources"]
    assert mebibytes(resources["limits"]["memory"]) >= 1.3 * peak_mib
    assert mebibytes(resources["requests"]["memory"]) >= 0.9 * peak_mib


def test_the_default_size_and_an_explicit_override(helm: Helm) -> None:
    default = server_container(helm.template())["resources"]
    bigger = server_container(helm.template({"fleet": {"nodes": 5000}}))["resources"]
    assert mebibytes(bigger["limits"]["memory"]) > mebibytes(default["limits"]["memory"])
    fixed = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert server_container(helm.template({"server": {"resources": fixed}}))["resources"] == fixed


def test_agent_processes_run_the_daemonsets_arguments_pointed_at_loopback(helm: Helm) -> None:
    (container,) = find(helm.template(), "DaemonSet", "netchecker-agent")["spec"]["template"]["spec"][
        "containers"
    ]
    assert pod_flags(container["args"], "127.0.0.1:40000", 2) == [
        "-v=5", "-alsologtostderr=true", "-serverendpoint=127.0.0.1:40000", "-reportinterval=2"
    ]  # fmt: skip


def test_optional_server_flags_follow_their_values(helm: Helm) -> None:
    values = {**MODES["etcd-external"], "server": {"extraArgs": ["-check-interval=5"]}}
    values["store"] = {**values["store"], "reportTTLSeconds": 60}
    values["store"]["etcdExternal"] = {**values["store"]["etcdExternal"], "tree": "team/netchecker"}
    args = server_container(helm.template(values))["args"]
    assert args[-3:] == ["-report-ttl=60", "-etcd-tree=team/netchecker", "-check-interval=5"]
    assert not [
        a for a in server_container(helm.template())["args"] if a.startswith(("-report-ttl", "-etcd-tree"))
    ]


def test_a_fleet_beyond_the_default_max_agents_raises_it(helm: Helm) -> None:
    """-max-agents' 12,000 holds 5,000 nodes; a bigger fleet gets room for its agents plus 20 %."""
    big = server_container(helm.template({"fleet": {"nodes": 8000}}))["args"]
    assert "-max-agents=19200" in big
    assert not [
        a for a in server_container(helm.template({"fleet": {"nodes": 5000}}))["args"] if "max-agents" in a
    ]


EVENTS_RULES = [{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}]
LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
]
NODE_RULES = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
]
SERVER_SUBJECTS = [{"kind": "ServiceAccount", "name": "netchecker-server", "namespace": "netchecker"}]


def grants(objects: list[Object]) -> dict[tuple[str, str, str], Any]:
    """(kind, namespace, name) of every role -> its rules; of every binding -> (role, subjects)."""
    found: dict[tuple[str, str, str], Any] = {}
    for obj in objects:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if obj["kind"] in {"ClusterRole", "Role"}:
            found[key] = obj["rules"]
        elif obj["kind"] in {"ClusterRoleBinding", "RoleBinding"}:
            found[key] = (obj["roleRef"]["kind"], obj["roleRef"]["name"], obj["subjects"])
    return found


def writer_grants(objects: list[Object]) -> dict[tuple[str, str, str], Any]:
    return {key: value for key, value in grants(objects).items() if key[2] != "netchecker-server"}


def test_events_are_on_by_default_with_their_cluster_role_and_the_lease_role(helm: Helm) -> None:
    objects = helm.template()
    assert writer_grants(objects) == {
        ("ClusterRole", "", "netchecker-server-events"): EVENTS_RULES,
        ("ClusterRoleBinding", "", "netchecker-server-events"):
            ("ClusterRole", "netchecker-server-events", SERVER_SUBJECTS),
        ("Role", "netchecker", "netchecker-server-leader"): LEASE_RULES,
        ("RoleBinding", "netchecker", "netchecker-server-leader"):
            ("Role", "netchecker-server-leader", SERVER_SUBJECTS),
    }  # fmt: skip
    assert server_container(objects)["args"] == KUBESPRAY_SERVER_ARGS  # -events is the server's default


def test_node_conditions_add_their_cluster_role_and_flags(helm: Helm) -> None:
    objects = helm.template({"nodeConditions": {"enabled": True, "heartbeatSeconds": 120}})
    found = writer_grants(objects)
    assert found[("ClusterRole", "", "netchecker-server-node-conditions")] == NODE_RULES
    assert found[("ClusterRoleBinding", "", "netchecker-server-node-conditions")] == (
        "ClusterRole", "netchecker-server-node-conditions", SERVER_SUBJECTS
    )  # fmt: skip
    assert server_container(objects)["args"][4:] == ["-node-conditions", "-node-conditions-heartbeat=120"]
    default_beat = server_container(helm.template({"nodeConditions": {"enabled": True}}))["args"]
    assert default_beat[4:] == ["-node-conditions"]


def test_events_off_drop_their_grant_and_both_off_drop_the_lease(helm: Helm) -> None:
    conditions_only = helm.template({"events": {"enabled": False}, "nodeConditions": {"enabled": True}})
    assert {key[2] for key in writer_grants(conditions_only)} == {
        "netchecker-server-leader", "netchecker-server-node-conditions"
    }  # fmt: skip
    assert server_container(conditions_only)["args"][4:] == ["-events=false", "-node-conditions"]
    neither = helm.template({"events": {"enabled": False}})
    assert writer_grants(neither) == {}
    assert server_container(neither)["args"][4:] == ["-events=false"]


@pytest.mark.parametrize("namespace", ["netchecker", "default"])
def test_namespaced_rbac_grants_events_by_roles_in_default_and_the_release_namespace(
    helm: Helm, namespace: str
) -> None:
    """rbac.clusterWide=false makes no cluster-scoped object: node Events must live in `default`, so a
    Role there (named for the release's namespace: several namespaced releases share `default`)."""
    objects = helm.template({"rbac": {"clusterWide": False}}, namespace=namespace)
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    subjects = [{**SERVER_SUBJECTS[0], "namespace": namespace}]
    expected = {("Role", namespace, "netchecker-server-leader"): LEASE_RULES,
                ("RoleBinding", namespace, "netchecker-server-leader"):
                    ("Role", "netchecker-server-leader", subjects)}  # fmt: skip
    events_roles = {"default": f"netchecker-server-events-{namespace}", namespace: "netchecker-server-events"}
    for where, name in events_roles.items():  # one Role when the release is in `default`
        expected[("Role", where, name)] = EVENTS_RULES
        expected[("RoleBinding", where, name)] = ("Role", name, subjects)
    assert writer_grants(objects) == expected


def test_rbac_create_false_makes_no_grant_but_keeps_the_flags(helm: Helm) -> None:
    objects = helm.template({"rbac": {"create": False}, "nodeConditions": {"enabled": True}})
    assert grants(objects) == {}
    assert server_container(objects)["args"][4:] == ["-node-conditions"]
