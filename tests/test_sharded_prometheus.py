"""Sharded /metrics under a real Prometheus: 1, 2 and 3 shards of one fleet on one etcd give the
same answer to every alert rule expression and every dashboard query, firing and quiet.

Six real servers share one real etcd: one unsharded, two shards, three shards. Three real
Prometheus servers scrape one topology each, and the test asks all three the same query at the
same evaluation time. Agents POST to any server (replicas share the store). The server
self-health panels are per replica by nature: there the same label sets must answer (one line
per replica), not the same values.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.kit import iter_panels, load_dashboard, substitute_variables
from tests.support.paths import RULES_FILE
from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.processes import start_logged, stop_process
from tests.support.prometheus import JOB, http_get_json, http_status
from tests.support.yaml_text import load_yaml

# make e2e runs it, not make test: ten real processes for a minute (docs/development.md); the
# in-process counterpart is tests/test_metrics_shard.py.
pytestmark = [pytest.mark.process, pytest.mark.e2e, pytest.mark.xdist_group("sharded_prometheus")]

TOPOLOGIES = (1, 2, 3)
NODES = 10
PING = "http://netchecker-service:8081/api/v1/ping"
TARGETS = ("http://target-a.default.svc:8080/health", "http://target-b.default.svc:8080/health")
DOWN_TARGET = "http://target-down.default.svc:8080/health"
SILENT = {("node-2", "pod"), ("node-3", "pod"), ("node-3", "host"), ("node-6", "pod"), ("node-6", "host"),
          ("node-7", "pod"), ("node-7", "host")}  # fmt: skip
"""Agents that never report in the firing state: 7 absent and 1 outdated of 20 is over 30%."""
VARIABLES = {"job": JOB, "instance": ".*", "node": ".*", "__rate_interval": "5s"}
TROUBLE = ("NetcheckerAgentAbsent", "NetcheckerAgentOutdated", "NetcheckerManyAgentsNotReporting",
           "NetcheckerProbeFailing", "NetcheckerProbeTargetDown", "NetcheckerPodNetworkDownOnNode",
           "NetcheckerNodeAgentMissing")  # fmt: skip
"""The rules whose expressions the firing state makes answer and the quiet one silences (node-5
stays slow in both: NetcheckerProbeSlow answers throughout)."""
PER_REPLICA_ROW = "Server self-health"
CONVERGE_SECONDS = 120
"""Reports stop, every server's next pass and every Prometheus' scrapes and 5 s rate windows follow."""


def pod_name(node: str, network: str) -> str:
    return f"netchecker-agent-{node}" if network == "pod" else f"netchecker-agent-hostnet-{node}"


def fleet() -> list[tuple[str, str]]:
    return [(f"node-{index}", network) for index in range(NODES) for network in ("pod", "host")]


def pods_file(path: Path) -> Path:
    agents = [{"pod": pod_name(node, net), "node": node, "namespace": "netchecker", "network": net}
              for node, net in fleet()]  # fmt: skip
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


def probe(url: str, *, ok: bool, total_ms: int = 20) -> dict[str, Any]:
    phases = {"ContentTransfer": 1, "TCPConnection": 2, "DNSLookup": 3, "Connect": 2, "ServerProcessing": 5}
    return {
        "URL": url,
        "ConnectionResult": int(ok),
        "HTTPCode": 200 if ok else 0,
        "Total": total_ms,
        **phases,
    }


def report(node: str, network: str, *, firing: bool) -> dict[str, Any]:
    """One agent's report; in the firing state node-1's pod network fails target-a, node-5 is slow,
    node-4's host agent says it reports every second (and then falls silent), target-down fails."""
    slow = 2000 if node == "node-5" else 20
    probes = [probe(PING, ok=True, total_ms=slow)]
    probes += [probe(url, ok=not (firing and node == "node-1" and network == "pod" and url == TARGETS[0]),
                     total_ms=slow) for url in TARGETS]  # fmt: skip
    probes.append(probe(DOWN_TARGET, ok=not firing, total_ms=slow))
    return {
        "report_interval": 1 if firing and (node, network) == ("node-4", "host") else 60,
        "nodename": node,
        "podname": pod_name(node, network),
        "hostdate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "uptime": 100_000 + int(time.time()) % 100_000,
        "nslookup": {"netchecker-service": ["10.233.0.10"]},
        "ips": {"eth0": ["192.0.2.2/24"]},
        "network_probes": probes,
    }


@dataclass
class Topology:
    shards: int
    servers: list[str]
    prometheus: str


@dataclass
class Stack:
    topologies: list[Topology]

    @property
    def servers(self) -> list[str]:
        return [url for topology in self.topologies for url in topology.servers]


def write_config(path: Path, targets: list[str]) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [{"job_name": JOB, "honor_labels": True, "static_configs": [{"targets": targets}]}],
    }
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: run scripts/ensure-debian-packages (Debian package 'prometheus')")
    workdir = tmp_path_factory.mktemp("shards")
    etcd = EtcdProcess(workdir / "etcd")
    etcd.start()
    pods = pods_file(workdir / "pods.yml")
    servers: list[ExporterProcess] = []
    processes = []
    topologies = []
    try:
        for shards in TOPOLOGIES:
            ports = [free_port() for _ in range(shards)]
            for ordinal, port in enumerate(ports):
                servers.append(ExporterProcess(
                    "-check-interval=1", f"-etcd-endpoints={etcd.url}", f"-pods-file={pods}",
                    "-startup-grace=0", f"-total-shards={shards}", f"-shard={ordinal}",
                    port=port, log_path=workdir / f"server-{shards}-{ordinal}.log", wait=False,
                ))  # fmt: skip
            config = workdir / f"prometheus-{shards}.yml"
            write_config(config, [f"127.0.0.1:{port}" for port in ports])
            prom_port = free_port()
            processes.append(start_logged(
                [prometheus, f"--config.file={config}", f"--storage.tsdb.path={workdir / f'data-{shards}'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                workdir / f"prometheus-{shards}.log",
            ))  # fmt: skip
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            topologies.append(Topology(shards, urls, f"http://127.0.0.1:{prom_port}"))
        built = Stack(topologies)
        for server in servers:
            server.wait_ready(60)
        for topology in topologies:
            url = topology.prometheus + "/-/ready"
            wait_until(lambda u=url: http_status(u) == 200, 60, url,  # type: ignore[misc]
                       interval_seconds=0.2, ignoring=(OSError,))  # fmt: skip
        yield built
    except TimeoutError as error:
        logs = "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in workdir.glob("*.log"))
        pytest.fail(f"{error}\n{logs}")
    finally:
        for server in servers:
            server.stop()
        for process in processes:
            stop_process(process)
        etcd.kill()


def post_state(stack: Stack, *, firing: bool) -> None:
    """Every agent's report, each to a different server: replicas share the store."""
    servers = stack.servers
    for index, (node, network) in enumerate(fleet()):
        if firing and (node, network) in SILENT:
            continue
        body = json.dumps(report(node, network, firing=firing)).encode()
        url = f"{servers[index % len(servers)]}/api/v1/agents/{pod_name(node, network)}"
        assert http_status(url, "POST", body) == 200


def rule_queries() -> list[tuple[str, str]]:
    groups = load_yaml(RULES_FILE.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def dashboard_queries() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(fleet queries, per-replica queries) of the dashboard, with its variables filled in."""
    fleet_queries: list[tuple[str, str]] = []
    replica_queries: list[tuple[str, str]] = []
    row = ""
    for panel in iter_panels(load_dashboard()["panels"]):
        if panel["type"] == "row":
            row = panel["title"]
            continue
        for target in panel.get("targets", []):
            where = replica_queries if row == PER_REPLICA_ROW else fleet_queries
            where.append(
                (f"{panel['title']} / {target['refId']}", substitute_variables(target["expr"], VARIABLES))
            )
    return fleet_queries, replica_queries


Answer = tuple[tuple[tuple[str, str], ...], ...]


def answer(prometheus: str, expr: str, at: float, *, values: bool) -> Answer:
    """The query's result at `at` as a sorted list of label sets (without `instance`) and values."""
    reply = http_get_json(f"{prometheus}/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
    assert reply["status"] == "success", reply
    rows = []
    for sample in reply["data"]["result"]:
        labels = {k: v for k, v in sample["metric"].items() if k != "instance"}
        if values:
            labels["__value__"] = f"{float(sample['value'][1]):.9g}"
        rows.append(tuple(sorted(labels.items())))
    return tuple(sorted(rows) if values else sorted(set(rows)))


def answers(stack: Stack, at: float) -> dict[int, dict[str, Answer]]:
    fleet_queries, replica_queries = dashboard_queries()
    everything = [(name, expr, True) for name, expr in [*rule_queries(), *fleet_queries]]
    everything += [(name, expr, False) for name, expr in replica_queries]
    return {
        t.shards: {name: answer(t.prometheus, expr, at, values=vals) for name, expr, vals in everything}
        for t in stack.topologies
    }


def differences(by_topology: dict[int, dict[str, Answer]]) -> dict[str, dict[int, Answer]]:
    one = by_topology[1]
    return {name: {shards: got[name] for shards, got in by_topology.items()}
            for name in one if any(got[name] != one[name] for got in by_topology.values())}  # fmt: skip


def converge(stack: Stack, reached: dict[str, bool]) -> dict[int, dict[str, Answer]]:
    """Wait until every topology gives the same answers, with the unsharded one in the state
    `reached` names (rule name: whether its expression has a result); return those answers."""
    last: list[dict[int, dict[str, Answer]]] = []

    def same() -> bool:
        at = time.time() - 2  # every Prometheus has scraped past it (1 s interval)
        last[:] = [answers(stack, at)]
        state = {name: bool(last[0][1][name]) for name in reached}
        return state == reached and not differences(last[0])

    try:
        wait_until(same, CONVERGE_SECONDS, "the same answers from 1, 2 and 3 shards", interval_seconds=1)
    except TimeoutError:
        state = {name: bool(last[0][1][name]) for name in reached} if last else {}
        pytest.fail(f"state {state}, wanted {reached}; differences: {differences(last[0]) if last else '-'}")
    return last[0]


def test_every_shard_is_scraped(stack: Stack) -> None:
    for topology in stack.topologies:

        def scraped(t: Topology = topology) -> bool:
            reply = http_get_json(f"{t.prometheus}/api/v1/query", {"query": f'count(up{{job="{JOB}"}} == 1)'})
            result = reply["data"]["result"]
            return bool(result) and int(result[0]["value"][1]) == t.shards

        wait_until(scraped, 60, f"the {topology.shards} shard(s) scraped", interval_seconds=0.5)
        ordinals = http_get_json(
            f"{topology.prometheus}/api/v1/query", {"query": "netchecker_metrics_shard_ordinal"}
        )
        assert sorted(int(r["value"][1]) for r in ordinals["data"]["result"]) == list(range(topology.shards))
        totals = http_get_json(
            f"{topology.prometheus}/api/v1/query", {"query": "netchecker_metrics_total_shards"}
        )
        assert {r["value"][1] for r in totals["data"]["result"]} == {str(topology.shards)}


def test_firing_then_quiet_the_rules_and_the_dashboard_agree_for_1_2_and_3_shards(stack: Stack) -> None:
    for _ in range(2):  # twice: node-4's host agent then goes silent past 2 x its 1 s interval
        post_state(stack, firing=True)
        time.sleep(1)
    firing = converge(stack, dict.fromkeys(TROUBLE, True) | {"NetcheckerProbeSlow": True})
    fleet_queries, _ = dashboard_queries()
    assert all(firing[1][name] for name, _ in fleet_queries if name.startswith(("Expected", "Absent"))), (
        firing[1]
    )
    post_state(stack, firing=False)
    quiet = converge(stack, dict.fromkeys(TROUBLE, False) | {"NetcheckerProbeSlow": True})
    assert quiet[1] != firing[1]
