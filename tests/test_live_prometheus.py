"""Live check: Debian's prometheus scrapes a real server fed with real agent reports.

The server watches its agent pods on the fake Kubernetes API, so the pod source's families
(last sync, client calls) have data too.

Every dashboard query must return data and every alert rule must evaluate without error; the
alerts the fixtures should trigger (a silent agent, a failing probe on the pod network while the
host network is fine) must be pending.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.support.exporter import ExporterProcess
from tests.support.kit import dashboard_queries, load_dashboard, substitute_variables
from tests.support.kube_access import TOKEN, write_kubeconfig
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.paths import RULES_FILE, load_fixtures
from tests.support.polling import wait_until
from tests.support.ports import free_port
from tests.support.processes import start_logged, stop_process
from tests.support.prometheus import (
    JOB,
    MIN_SCRAPES,
    LiveStack,
    all_rules_evaluated,
    http_get_json,
    http_status,
    prom_query,
    scrape_count,
    write_prometheus_config,
)
from tests.support.yaml_text import load_yaml

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("live_prometheus")]

T = TypeVar("T")
SILENT_POD = "netchecker-agent-silent"
DASHBOARD_VARIABLES = {"job": JOB, "instance": ".*", "node": ".*", "__rate_interval": "30s"}
SETTLE_SECONDS = 15
"""How long a query may take to show data: a scrape missed on a loaded machine marks series stale."""


def serve_agent_pods(fixtures: tuple[dict[str, Any], ...]) -> FakeKubeApiServer:
    """The fake Kubernetes API with one pod per fixture and a silent one on node-2."""
    cluster = FakeCluster()
    for fixture in fixtures:
        hostnet = "hostnet" in fixture["podname"]
        app = "netchecker-agent-hostnet" if hostnet else "netchecker-agent"
        cluster.create_pod(
            fixture["podname"], node=fixture["nodename"], labels={"app": app}, host_network=hostnet
        )
    cluster.create_pod(SILENT_POD, node="node-2")
    return FakeKubeApiServer(cluster, token=TOKEN).start()


def post_reports_until(stop: threading.Event, server_url: str, fixtures: tuple[dict[str, Any], ...]) -> None:
    """Act as the agents: report every second (the fixtures say report_interval=2)."""
    while not stop.is_set():
        for report in fixtures:
            url = f"{server_url}/api/v1/agents/{report['podname']}"
            http_status(url, "POST", json.dumps(report).encode())
        stop.wait(1.0)


# module: the group is one xdist unit, so its tests run back to back on one worker, which tears this
# down after the last of them (session scope kept it running, and scraped, until the worker's end).
@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    fixtures = load_fixtures()
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: run scripts/ensure-debian-packages (Debian package 'prometheus')")
    workdir = tmp_path_factory.mktemp("live")
    server_port, prometheus_port = free_port(), free_port()
    apiserver = serve_agent_pods(fixtures)
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", apiserver.url, TOKEN)
    write_prometheus_config(workdir / "prometheus.yml", server_port)
    server = ExporterProcess(
        "-check-interval=1",
        f"-kubeconfig={kubeconfig}",
        "-startup-grace=0",
        port=server_port,
        log_path=workdir / "server.log",
        wait=False,
    )
    prom = start_logged(
        [
            prometheus,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        workdir / "prometheus.log",
    )
    stop = threading.Event()
    stack = LiveStack(f"http://127.0.0.1:{prometheus_port}", f"http://127.0.0.1:{server_port}", fixtures)
    try:
        server.wait_ready()
        assert http_status(f"{stack.server_url}/api/v1/agents/netchecker-agent-bad", "POST", b"{") == 400
        agents = threading.Thread(
            target=post_reports_until, args=(stop, stack.server_url, fixtures), daemon=True
        )
        agents.start()
        wait_until(
            lambda: http_status(f"{stack.prometheus_url}/-/ready") == 200,
            ignoring=(OSError,),
            timeout_seconds=30,
            what="prometheus to be ready",
        )
        wait_until(
            lambda: scrape_count(stack),
            ignoring=(OSError,),
            timeout_seconds=30,
            what=f"{MIN_SCRAPES} scrapes",
        )
        wait_until(
            lambda: all_rules_evaluated(stack),
            ignoring=(OSError,),
            timeout_seconds=20,
            what="every rule to be evaluated",
        )
        yield stack
    except TimeoutError as error:
        logs = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in workdir.glob("*.log"))
        pytest.fail(f"{error}\n{logs}")
    finally:
        stop.set()
        stop_process(prom)
        server.stop()
        apiserver.stop()


@pytest.mark.parametrize(("where", "expr"), dashboard_queries(load_dashboard()))
def test_dashboard_query_returns_data(live_stack: LiveStack, where: str, expr: str) -> None:
    query = substitute_variables(expr, DASHBOARD_VARIABLES)
    assert eventually(lambda: prom_query(live_stack, query)), f"{where}: no data for {query}"


def eventually(query: Callable[[], T]) -> T | None:
    """The first truthy answer within SETTLE_SECONDS, else the last one."""
    answers: list[T] = []

    def answered() -> bool:
        answers.append(query())
        return bool(answers[-1])

    with contextlib.suppress(TimeoutError):
        wait_until(answered, SETTLE_SECONDS, "data", interval_seconds=0.5)
    return answers[-1] if answers else None


def test_dashboard_variable_queries_find_the_job_and_nodes(live_stack: LiveStack) -> None:
    build = eventually(lambda: prom_query(live_stack, "netchecker_build_info"))
    assert build and build[0]["metric"]["job"] == JOB
    status = eventually(lambda: prom_query(live_stack, f'netchecker_agent_status{{job="{JOB}"}}')) or []
    nodes = {r["metric"]["node"] for r in status}
    assert nodes == {f["nodename"] for f in live_stack.fixtures} | {"node-2"}


def test_every_rule_evaluates_without_error(live_stack: LiveStack) -> None:
    groups = http_get_json(f"{live_stack.prometheus_url}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    expected = [r for g in load_yaml(RULES_FILE.read_text())["groups"] for r in g["rules"]]
    assert len(rules) == len(expected)
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not failing


def pending_alerts(stack: LiveStack) -> set[tuple[str, str]]:
    result = prom_query(stack, 'ALERTS{alertstate=~"pending|firing"}')
    return {(r["metric"]["alertname"], r["metric"].get("pod") or r["metric"].get("node", "")) for r in result}


def test_the_silent_agent_is_absent_and_its_alert_pending(live_stack: LiveStack) -> None:
    absent = eventually(lambda: prom_query(live_stack, 'netchecker_agent_status{status="absent"} == 1'))
    assert [r["metric"]["pod"] for r in absent or []] == [SILENT_POD]
    assert eventually(lambda: ("NetcheckerAgentAbsent", SILENT_POD) in pending_alerts(live_stack))


def test_pod_network_probe_failure_with_healthy_host_network_is_pending_as_cni_fault(
    live_stack: LiveStack,
) -> None:
    failing = eventually(lambda: prom_query(live_stack, "netchecker_agent_probe_success == 0")) or []
    assert {(r["metric"]["network"], r["metric"]["node"]) for r in failing} == {("pod", "node-1")}
    wanted = {
        ("NetcheckerPodNetworkDownOnNode", "node-1"),
        ("NetcheckerProbeFailing", failing[0]["metric"]["pod"]),
    }
    assert eventually(lambda: wanted <= pending_alerts(live_stack))


def test_the_diagnosis_alerts_name_the_broken_nodes(live_stack: LiveStack) -> None:
    """node-1's pod network fails a probe its host network passes; node-2's only agent never reported."""
    verdicts = prom_query(live_stack, 'netchecker_node_verdict{verdict!="healthy"} == 1')
    assert {(r["metric"]["node"], r["metric"]["verdict"]) for r in verdicts} == {
        ("node-1", "pod_network_down"),
        ("node-2", "agent_missing"),
    }
    alerts = pending_alerts(live_stack)
    assert {("NetcheckerPodNetworkDownOnNode", "node-1"), ("NetcheckerNodeAgentMissing", "node-2")} <= alerts
    assert ("NetcheckerNodeUnreachable", "node-1") not in alerts


def test_a_healthy_server_raises_no_server_alerts(live_stack: LiveStack) -> None:
    server_alerts = {
        "NetcheckerExporterDown",
        "NetcheckerExporterMissing",
        "NetcheckerReconcileStalled",
        "NetcheckerStoreDown",
        "NetcheckerPodSourceDown",
        "NetcheckerManyAgentsNotReporting",
    }
    assert not {name for name, _ in pending_alerts(live_stack)} & server_alerts
