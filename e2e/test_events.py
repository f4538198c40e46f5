"""Events and Node conditions on a real kube-apiserver: a silent agent makes them, recovery clears
them, a flapping agent makes one series, a missing grant one hint, and two replicas one writer."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from e2e.agents import AgentProcess
from e2e.cluster import EXPORTER_ACCOUNT, NAMESPACE, Cluster
from e2e.conftest import AgentFactory, ExporterFactory, PodFactory
from e2e.kube_client import Object, objects_of_kind
from e2e.manifests import variant_named
from netchecker_exporter.diagnosis.verdicts import NORMAL, RECOVERED_REASON, VERDICTS
from netchecker_exporter.kube_writes.api import KubeRest, KubeWriteApi
from netchecker_exporter.kube_writes.assembly import writer_identity
from netchecker_exporter.kube_writes.condition_plan import OWN_TYPES
from netchecker_exporter.kube_writes.event_plan import SUMMARY_REASON, EventCreate, event_name
from netchecker_exporter.kube_writes.lease import micro_time
from netchecker_exporter.kube_writes.writer import event_body, event_namespace
from netchecker_exporter.pods.cluster_access import ClusterAccess
from netchecker_exporter.pods.kubernetes import connect
from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until

INTERVAL_SECONDS = 2
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/netchecker-exporter"
EVENTS_HINT = 'RBAC verbs ["create", "patch"] on resource "events" (apiGroup "events.k8s.io")'
KUBELET_READY = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting"}


class Nodes:
    """Node objects as a kubelet would register them (with its Ready condition), removed at the end."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.names: list[str] = []

    def create(self, name: str) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        self.cluster.admin.call("POST", "/api/v1/nodes", json=node)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = {**KUBELET_READY, "lastHeartbeatTime": now, "lastTransitionTime": now}
        patch = {"status": {"conditions": [ready]}}
        headers = {"Content-Type": "application/strategic-merge-patch+json"}
        self.cluster.admin.call("PATCH", f"/api/v1/nodes/{name}/status", json=patch, headers=headers)
        self.names.append(name)

    def conditions(self, name: str) -> dict[str, dict[str, Any]]:
        node = self.cluster.admin.call("GET", f"/api/v1/nodes/{name}")
        return {c["type"]: c for c in node["status"].get("conditions", [])}


@pytest.fixture
def nodes(cluster: Cluster) -> Iterator[Nodes]:
    made = Nodes(cluster)
    yield made
    for name in made.names:
        cluster.admin.call("DELETE", f"/api/v1/nodes/{name}", expect=(200, 404))


@pytest.fixture
def node_conditions_rbac(cluster: Cluster) -> Iterator[None]:
    """What config/kubernetes/node-conditions adds to the base (the chart with nodeConditions.enabled):
    its ClusterRole and binding, applied for the test."""
    rendered = cluster.helm.template(variant_named("node-conditions").values)
    objects = [obj for obj in objects_of_kind(rendered, "ClusterRole", "ClusterRoleBinding")
               if obj["metadata"]["name"] == "netchecker-server-node-conditions"]  # fmt: skip
    assert len(objects) == 2
    for obj in objects:
        cluster.admin.apply(obj)
    yield
    for obj in objects:
        cluster.admin.delete(obj, expect=(200, 202, 404))


class Small:
    """Three nodes named for the test: node 0 and 1 with both agents, node 2 with the pod-network one."""

    def __init__(self, prefix: str, pods: PodFactory, nodes: Nodes) -> None:
        self.prefix = prefix
        self.nodes = [f"{prefix}-node-{i}" for i in range(3)]
        self.members = [(f"netchecker-agent-{prefix}-{i}", n, False) for i, n in enumerate(self.nodes)]
        hostnet = enumerate(self.nodes[:2])
        self.members += [(f"netchecker-agent-hostnet-{prefix}-{i}", n, True) for i, n in hostnet]
        for name in self.nodes:
            nodes.create(name)
        for pod, node, host_network in self.members:
            pods(pod, node, host_network=host_network)
        self.agents: dict[str, AgentProcess] = {}

    def start_agents(self, agents: AgentFactory, exporter: ExporterProcess) -> None:
        for pod, node, _ in self.members:
            self.agents[pod] = agents(pod, node, exporter.endpoint, INTERVAL_SECONDS)

    def pod_agent(self, index: int) -> str:
        return f"netchecker-agent-{self.prefix}-{index}"

    def start_healthy(self, agents: AgentFactory, exporter: ExporterProcess) -> tuple[str, str]:
        """Every agent started against `exporter`, node 0 waited for until healthy: node 0 and its
        pod-network agent, the one each scenario silences."""
        self.start_agents(agents, exporter)
        node = self.nodes[0]
        wait_until(lambda: verdict(exporter, node) == "healthy", 60, "node 0 healthy")
        return node, self.pod_agent(0)


@dataclass(frozen=True)
class Scene:
    """What each scenario on a Small fleet starts from: the cluster and its Node objects, the pod,
    agent and exporter factories, and the test's directory for the exporter's kubeconfig."""

    cluster: Cluster
    pods: PodFactory
    agents: AgentFactory
    exporter: ExporterFactory
    nodes: Nodes
    tmp_path: Path

    def small(self, name: str) -> Small:
        return Small(unique_prefix(name), self.pods, self.nodes)

    def exporter_flags(self, *extra: str) -> list[str]:
        kubeconfig = self.cluster.exporter_kubeconfig(self.tmp_path / "kubeconfig")
        return [f"-kubeconfig={kubeconfig}", "-check-interval=1", "-startup-grace=8",
                f"-lease-namespace={NAMESPACE}", *extra]  # fmt: skip

    def start_healthy(self, name: str, *extra: str) -> tuple[Small, ExporterProcess, str, str]:
        """A Small fleet named for `name` and one exporter with the `extra` flags, node 0 waited for
        until healthy: the fleet, the exporter, node 0 and its pod-network agent."""
        fleet = self.small(name)
        process = self.exporter(*self.exporter_flags(*extra))
        node, pod = fleet.start_healthy(self.agents, process)
        return fleet, process, node, pod


@pytest.fixture
def scene(
    cluster: Cluster, pods: PodFactory, agents: AgentFactory, exporter: ExporterFactory, nodes: Nodes,
    tmp_path: Path,
) -> Scene:  # fmt: skip
    return Scene(cluster, pods, agents, exporter, nodes, tmp_path)


def may(cluster: Cluster, verb: str, resource: str, namespace: str = "", group: str = "") -> bool:
    """A SubjectAccessReview for the exporter's ServiceAccount; `resource` may be `nodes/status`."""
    resource, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": resource, "subresource": subresource,
                  "namespace": namespace}  # fmt: skip
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated"]
    user = f"system:serviceaccount:{NAMESPACE}:{EXPORTER_ACCOUNT}"
    spec = {"user": user, "groups": groups, "resourceAttributes": attributes}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
    answer = cluster.admin.call("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    return bool(answer["status"].get("allowed"))


def test_the_base_grants_events_and_the_lease_and_only_the_opt_in_grants_node_status(
    cluster: Cluster, node_conditions_rbac: None
) -> None:
    events, leases = "events.k8s.io", "coordination.k8s.io"
    assert may(cluster, "create", "events", "default", events)
    assert may(cluster, "patch", "events", NAMESPACE, events)
    assert not may(cluster, "delete", "events", "default", events)
    assert may(cluster, "update", "leases", NAMESPACE, leases)
    assert not may(cluster, "update", "leases", "kube-system", leases)
    assert may(cluster, "patch", "nodes/status") and may(cluster, "list", "nodes")
    assert not may(cluster, "patch", "nodes")  # the status only, never the spec


def test_without_the_opt_in_rbac_node_status_is_not_writable(cluster: Cluster) -> None:
    assert not may(cluster, "patch", "nodes/status") and not may(cluster, "list", "nodes")


def namespaced_event_grants(cluster: Cluster) -> list[Object]:
    """The chart's Events grants with rbac.clusterWide=false: Roles and bindings, no cluster-scoped one."""
    rendered = cluster.helm.template({"rbac": {"clusterWide": False}})
    return [obj for obj in objects_of_kind(rendered, "Role", "RoleBinding")
            if obj["metadata"]["name"].startswith("netchecker-server-events")]  # fmt: skip


def write_node_and_summary_events(cluster: Cluster, tmp_path: Path) -> tuple[str, str]:
    """A node Event and the summary Event, written by the writer's code with the exporter's token as
    it runs in a pod; returns the node's name and the summary Event's."""
    kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
    api = KubeWriteApi(KubeRest(connect(ClusterAccess(str(kubeconfig), "e2e"), {})))
    identity = writer_identity("netchecker-server-e2e", NAMESPACE, ClusterAccess(None, "in-cluster"))
    now, node, reason = time.time(), unique_prefix("nsrbac-node"), "NodeUnreachable"
    summary = event_name("", SUMMARY_REASON, now)
    writes = (
        EventCreate(
            (node, reason), event_name(node, reason, now), node, None, reason, "Warning", "silent", now
        ),
        EventCreate(("", SUMMARY_REASON), summary, "", None, SUMMARY_REASON, "Warning", "suppressed", now),
    )
    for write in writes:
        namespace = event_namespace(write, identity)
        api.create_event(namespace, event_body(write, identity, namespace))
    return node, summary


def test_with_namespaced_rbac_the_writer_creates_node_and_summary_events_on_the_charts_roles(
    cluster: Cluster, tmp_path: Path
) -> None:
    """rbac.clusterWide=false: a Role in `default` (node Events must live there) and one in the
    release namespace (the summary Event) are enough, and reach no other namespace."""
    events = "events.k8s.io"
    binding = cluster.binding("netchecker-server-events")
    grants = namespaced_event_grants(cluster)
    assert sorted(o["metadata"]["namespace"] for o in grants) == ["default", "default", NAMESPACE, NAMESPACE]
    cluster.admin.delete(binding)
    try:
        wait_until(lambda: not may(cluster, "create", "events", "default", events), 30, "no grant left")
        for obj in grants:
            cluster.admin.apply(obj)
        wait_until(lambda: may(cluster, "create", "events", "default", events), 30, "the Role in default")
        assert may(cluster, "patch", "events", NAMESPACE, events)
        assert not may(cluster, "create", "events", "kube-system", events)
        node, summary = write_node_and_summary_events(cluster, tmp_path)
        assert [e["metadata"]["namespace"] for e in node_events(cluster, node, "NodeUnreachable")] == [
            "default"
        ]
        assert cluster.admin.call("GET", f"/api/v1/namespaces/{NAMESPACE}/events/{summary}")["reason"] == (
            SUMMARY_REASON
        )
    finally:
        cluster.admin.apply(binding)
        for obj in grants:
            cluster.admin.delete(obj, expect=(200, 202, 404))


def verdict(exporter: ExporterProcess, node: str) -> str | None:
    reply = requests.get(exporter.url + "/api/v1/diagnosis", timeout=10).json()
    return next((n["verdict"] for n in reply["nodes"] if n["node"] == node), None)


def node_events(cluster: Cluster, node: str, reason: str = "") -> list[Object]:
    """`kubectl get events -n default --field-selector involvedObject.name=<node>,reason=<reason>`."""
    selector = f"involvedObject.kind=Node,involvedObject.name={node}" + (f",reason={reason}" * bool(reason))
    path = "/api/v1/namespaces/default/events"
    answer = cluster.admin.call("GET", path, params={"fieldSelector": selector})
    items: list[Object] = answer["items"]
    return items


def one_event(cluster: Cluster, node: str, reason: str) -> Object | None:
    found = node_events(cluster, node, reason)
    assert len(found) <= 1, found
    return found[0] if found else None


def kubectl_describe_node(cluster: Cluster, node: str, tmp_path: Path) -> str:
    """`kubectl describe node`: it finds node Events by the node's name as their uid, as the kubelet's."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    kubeconfig = cluster.apiserver.kubeconfig(cluster.apiserver.admin_token, tmp_path / "admin-kubeconfig")
    command = ["kubectl", f"--kubeconfig={kubeconfig}", "describe", "node", node]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


def unique_prefix(name: str) -> str:
    return f"{name}{int(time.time() * 10) % 100000}"


def test_a_silent_pod_network_agent_makes_an_event_and_a_condition_that_recovery_clears(
    scene: Scene, cluster: Cluster, nodes: Nodes, node_conditions_rbac: None, tmp_path: Path
) -> None:
    fleet, process, node, pod = scene.start_healthy("ev", "-node-conditions")
    wait_until(lambda: process.metric("netchecker_leader") == 1, 30, "the only replica to lead")
    fleet.agents[pod].kill()

    event = wait_until(lambda: one_event(cluster, node, "PodNetworkDown"), 60, "the PodNetworkDown Event")
    assert event["type"] == "Warning" and event["reportingComponent"] == "netchecker.io/netchecker-exporter"
    assert event["involvedObject"]["kind"] == "Node" and event["related"]["name"] == pod
    # As docs/events.md lists them:
    documented = "reportingComponent=netchecker.io/netchecker-exporter,reason=PodNetworkDown"
    listed = cluster.admin.call("GET", "/api/v1/events", params={"fieldSelector": documented})["items"]
    assert event["metadata"]["name"] in {e["metadata"]["name"] for e in listed}
    words = rf"the pod-network agent {pod} has been silent for .* while the host-network agent"
    assert re.search(words, event["message"]), event["message"]  # the status page's words
    kind = "NetcheckerPodNetworkProblem"
    condition = wait_until(lambda: nodes.conditions(node).get(kind), 30, "the condition")
    assert (condition["status"], condition["reason"]) == ("True", "PodNetworkDown")
    assert nodes.conditions(node)["Ready"]["reason"] == "KubeletReady"  # the kubelet's stays as it was
    assert "NetcheckerPodNetworkProblem" not in nodes.conditions(fleet.nodes[1])  # healthy: nothing written
    described = kubectl_describe_node(cluster, node, tmp_path)  # as docs/events.md says to look
    assert "PodNetworkDown" in described and "NetcheckerPodNetworkProblem" in described

    fleet.agents[pod].start()
    wait_until(lambda: one_event(cluster, node, "Recovered"), 60, "the Recovered Event")
    cleared = wait_until(
        lambda: (c := nodes.conditions(node)["NetcheckerPodNetworkProblem"])["status"] == "False" and c, 30,
        "the condition cleared",
    )  # fmt: skip
    assert cleared["reason"] == "PodNetworkWorks"
    assert process.metric('netchecker_kubernetes_events_total{result="failed"}') == 0
    assert process.metric('netchecker_node_condition_patches_total{result="written"}') == 2


def test_a_flapping_agent_makes_one_event_series_with_a_count_not_a_flood(
    scene: Scene, cluster: Cluster
) -> None:
    # The flapping rule (diagnosis_flapping.py) would make the node `flapping` at its 4th change (the
    # next test); raised past this test's 8 changes, the verdict keeps going down and up.
    fleet, process, node, pod = scene.start_healthy("flap", "-flap-transitions=16")
    flaps = 4
    for _ in range(flaps):
        fleet.agents[pod].kill()
        wait_until(lambda: verdict(process, node) == "pod_network_down", 30, "pod network down")
        fleet.agents[pod].start()
        wait_until(lambda: verdict(process, node) == "healthy", 30, "healthy again")

    def counted() -> Object | None:
        event = one_event(cluster, node, "PodNetworkDown")
        return event if event and (event.get("series") or {}).get("count", 0) >= 2 else None

    event = wait_until(counted, 60, "the PodNetworkDown Event with a series count")
    assert 2 <= event["series"]["count"] <= flaps
    assert len(node_events(cluster, node)) == 2  # one PodNetworkDown series, one Recovered series
    assert (process.metric('netchecker_kubernetes_events_total{result="written"}') or 0) >= 3


def test_a_node_past_the_flapping_rule_gets_one_flapping_event_and_no_condition(
    scene: Scene, cluster: Cluster, nodes: Nodes, node_conditions_rbac: None
) -> None:
    """docs/events.md: `flapping` is a Warning Event `Flapping`, and sets no condition of its own."""
    fleet, process, node, pod = scene.start_healthy("flapv", "-node-conditions")
    problem = "NetcheckerPodNetworkProblem"
    for _ in range(2):  # four changes: -flap-transitions' default
        fleet.agents[pod].kill()
        wait_until(lambda: verdict(process, node) == "pod_network_down", 30, "pod network down")
        wait_until(lambda: nodes.conditions(node).get(problem, {}).get("status") == "True", 30, problem)
        fleet.agents[pod].start()
        wait_until(lambda: verdict(process, node) != "pod_network_down", 30, "the agent back")
    wait_until(lambda: verdict(process, node) == "flapping", 30, "the flapping verdict")
    event = wait_until(lambda: one_event(cluster, node, "Flapping"), 60, "the Flapping Event")
    assert event["type"] == "Warning" and "times in the last" in event["message"], event["message"]

    def ours_all_false() -> dict[str, dict[str, Any]] | None:
        ours = {k: c for k, c in nodes.conditions(node).items() if k.startswith("Netchecker")}
        return ours if ours and all(c["status"] == "False" for c in ours.values()) else None

    # The outages set and cleared their condition; flapping (working now) sets nothing True.
    ours = wait_until(ours_all_false, 30, "our conditions, all False while the node flaps")
    assert set(ours) <= OWN_TYPES and verdict(process, node) == "flapping"


def test_without_the_events_grant_it_logs_one_hint_and_keeps_working(scene: Scene, cluster: Cluster) -> None:
    binding = cluster.binding("netchecker-server-events")
    cluster.admin.delete(binding)
    try:
        fleet, process, _, _ = scene.start_healthy("nogrant")
        for index in (0, 1):  # two faults, two refused writes, one hint
            fleet.agents[fleet.pod_agent(index)].kill()
        wait_until(lambda: (process.metric('netchecker_kubernetes_events_total{result="failed"}') or 0) >= 2,
                   60, "two refused Events")  # fmt: skip
        assert process.log().count(EVENTS_HINT) == 1
        assert "cluster-wide (ClusterRole + ClusterRoleBinding)" in process.log()
        assert requests.get(process.url + "/readyz", timeout=5).status_code == 200
        assert verdict(process, fleet.nodes[1]) == "pod_network_down"
    finally:
        cluster.admin.apply(binding)


def lease_holder(cluster: Cluster) -> str:
    lease = cluster.admin.call("GET", LEASE, expect=(200, 404))
    return str(lease.get("spec", {}).get("holderIdentity") or "")


def leaders(replicas: list[ExporterProcess]) -> list[ExporterProcess]:
    return [r for r in replicas if r.running and r.metric("netchecker_leader") == 1]


def test_two_replicas_elect_one_writer_and_a_killed_leader_hands_over(
    scene: Scene, cluster: Cluster, agents: AgentFactory, exporter: ExporterFactory, store_etcd: EtcdProcess
) -> None:
    fleet = scene.small("ha")
    flags = scene.exporter_flags(f"-etcd-endpoints={store_etcd.url}")
    replicas = [exporter(*flags), exporter(*flags)]
    leader = wait_until(lambda: (found := leaders(replicas)) and found, 30, "a leader")[0]
    follower = next(r for r in replicas if r is not leader)
    fleet.start_agents(agents, follower)  # the leader reads their reports from the shared etcd
    wait_until(lambda: all(verdict(r, fleet.nodes[0]) == "healthy" for r in replicas), 60, "both judge")
    assert leaders(replicas) == [leader]
    first_holder = lease_holder(cluster)

    fleet.agents[fleet.pod_agent(0)].kill()
    wait_until(lambda: one_event(cluster, fleet.nodes[0], "PodNetworkDown"), 60, "the leader's Event")
    time.sleep(3)  # the follower judged the same: had it written, a second Event would be here
    assert len(node_events(cluster, fleet.nodes[0], "PodNetworkDown")) == 1

    leader.kill()
    wait_until(lambda: follower.metric("netchecker_leader") == 1, 60, "the follower to take the Lease")
    assert lease_holder(cluster) not in ("", first_holder)
    fleet.agents[fleet.pod_agent(1)].kill()
    wait_until(lambda: one_event(cluster, fleet.nodes[1], "PodNetworkDown"), 60, "the new leader's Event")
    follower.stop()  # a clean shutdown hands the Lease over at once: the holder is cleared
    assert lease_holder(cluster) == ""


@pytest.mark.parametrize("where", ["in-cluster", "kubeconfig"])
def test_the_api_server_takes_the_summary_event_and_its_series_as_the_exporter_writes_them(
    cluster: Cluster, tmp_path: Path, where: str
) -> None:
    """The fleet limit's summary Event (too many agents to provoke here), written by the writer's code
    with the exporter's own token, read back as `kubectl get events` shows it."""
    kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
    rest = KubeRest(connect(ClusterAccess(str(kubeconfig), "e2e"), {}))
    in_cluster = where == "in-cluster"  # about our Pod in our namespace; else about our Namespace
    access = ClusterAccess(None, "in-cluster") if in_cluster else ClusterAccess(str(kubeconfig), "e2e")
    identity = writer_identity("netchecker-server-e2e", NAMESPACE, access)
    now = time.time()
    note = "4950 node Events not written (fleet rate limit): 4950 NodeUnreachable; cluster: ..."
    name = event_name("", SUMMARY_REASON, now)
    write = EventCreate(("", SUMMARY_REASON), name, "", None, SUMMARY_REASON, "Warning", note, now)
    namespace = event_namespace(write, identity)
    api = KubeWriteApi(rest)
    api.create_event(namespace, event_body(write, identity, namespace))
    api.patch_event(namespace, name, {"series": {"count": 2, "lastObservedTime": micro_time(now + 60)}})
    event = cluster.admin.call("GET", f"/api/v1/namespaces/{namespace}/events/{name}")
    kind = "Pod" if in_cluster else "Namespace"
    assert (event["involvedObject"]["kind"], event["reason"]) == (kind, SUMMARY_REASON)
    assert event["message"] == note
    assert event["series"]["count"] == 2
    assert namespace == (NAMESPACE if in_cluster else "default")


def test_an_outage_of_our_etcd_makes_no_false_event_or_condition(
    scene: Scene, cluster: Cluster, agents: AgentFactory, exporter: ExporterFactory, nodes: Nodes,
    node_conditions_rbac: None, store_etcd: EtcdProcess,
) -> None:  # fmt: skip
    """While etcd is down agents' reports are refused; after it, their records are old and every node
    would look unreachable until they report again: the writers wait that out (write_gate.py)."""
    fleet = scene.small("etcd")
    flags = scene.exporter_flags("-node-conditions", f"-etcd-endpoints={store_etcd.url}", "-ping-timeout=0.5")
    process = exporter(*flags)
    fleet.start_agents(agents, process)
    wait_until(lambda: all(verdict(process, n) == "healthy" for n in fleet.nodes), 60, "all healthy")
    wait_until(lambda: process.metric("netchecker_leader") == 1, 30, "the replica to lead")
    time.sleep(10)  # past the settle time: the writers act on healthy diagnoses now
    store_etcd.kill()
    wait_until(lambda: process.metric("netchecker_store_up") == 0, 30, "store down")
    time.sleep(3 * INTERVAL_SECONDS)  # every record older than twice its interval
    store_etcd.start()
    wait_until(lambda: process.metric("netchecker_store_up") == 1, 60, "store up again")
    wait_until(lambda: all(verdict(process, n) == "healthy" for n in fleet.nodes), 60, "all healthy again")
    time.sleep(10)  # one settle time more: a false Event would have been written by now
    assert all(node_events(cluster, node) == [] for node in fleet.nodes)
    assert all(not k.startswith("Netchecker") for node in fleet.nodes for k in nodes.conditions(node))


EVERY_EVENT = sorted(
    {(row.event_reason, row.event_type) for row in VERDICTS.values() if row.event_reason is not None}
    | {(RECOVERED_REASON, NORMAL)}
)
"""Every Event the verdict table can make, and Recovered: a fault of each kind is more than one run
can provoke, so each is written by the writer's own code and read back, as a fault would make it."""


@pytest.mark.parametrize(("reason", "kind"), EVERY_EVENT)
def test_the_api_server_takes_the_event_of_every_verdict_as_the_writer_writes_it(
    cluster: Cluster, tmp_path: Path, reason: str, kind: str
) -> None:
    kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
    api = KubeWriteApi(KubeRest(connect(ClusterAccess(str(kubeconfig), "e2e"), {})))
    identity = writer_identity("netchecker-server-e2e", NAMESPACE, ClusterAccess(None, "in-cluster"))
    now, node = time.time(), unique_prefix(f"every-{reason.lower()}")
    note = f"node {node}: {reason} (as the status page words it)"
    write = EventCreate((node, reason), event_name(node, reason, now), node, None, reason, kind, note, now)
    namespace = event_namespace(write, identity)
    api.create_event(namespace, event_body(write, identity, namespace))
    listed = cluster.admin.call(
        "GET",
        f"/api/v1/namespaces/{namespace}/events?fieldSelector=reason%3D{reason},involvedObject.name%3D{node}",
    )["items"]  # what `kubectl get events --field-selector reason=...` reads
    assert [(e["reason"], e["type"], e["message"], e["involvedObject"]["kind"]) for e in listed] == [
        (reason, kind, note, "Node")
    ]
