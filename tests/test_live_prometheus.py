"""Live check: Debian's prometheus scrapes a real server fed with real agent reports.

Every dashboard query must return data and every alert rule must evaluate without error; the
alerts the fixtures should trigger (a silent agent, a failing probe on the pod network while the
host network is fine) must be pending.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kit_support import (
    FIXTURES_DIR,
    REPO_ROOT,
    RULES_FILE,
    dashboard_queries,
    load_dashboard,
    substitute_variables,
)
from tests.polling import wait_until
from tests.ports import free_port

JOB = "netchecker"
SILENT_POD = "netchecker-agent-silent"
DASHBOARD_VARIABLES = {"job": JOB, "instance": ".*", "node": ".*", "__rate_interval": "30s"}
MIN_SCRAPES = 5


@dataclass(frozen=True)
class LiveStack:
    prometheus_url: str
    server_url: str
    fixtures: tuple[dict[str, Any], ...]


def http_get_json(url: str, params: dict[str, str] | None = None) -> Any:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(url + query, timeout=5) as response:
        return json.load(response)


def http_status(url: str, method: str = "GET", body: bytes | None = None) -> int:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def prom_query(stack: LiveStack, expr: str) -> list[dict[str, Any]]:
    answer = http_get_json(f"{stack.prometheus_url}/api/v1/query", {"query": expr})
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def load_fixtures() -> tuple[dict[str, Any], ...]:
    files = sorted(FIXTURES_DIR.glob("*.json")) if FIXTURES_DIR.is_dir() else []
    if not files:
        pytest.skip(f"no agent report fixtures in {FIXTURES_DIR} (expected tests/fixtures in the repo)")
    return tuple(json.loads(path.read_text()) for path in files)


def write_pods_file(path: Path, fixtures: tuple[dict[str, Any], ...]) -> None:
    agents = [{"pod": f["podname"], "node": f["nodename"], "namespace": "netchecker"} for f in fixtures]
    agents.append({"pod": SILENT_POD, "node": "node-2", "namespace": "netchecker"})
    path.write_text(yaml.safe_dump({"agents": agents}))


def write_prometheus_config(path: Path, server_port: int) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{server_port}"]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))


def post_reports_until(stop: threading.Event, server_url: str, fixtures: tuple[dict[str, Any], ...]) -> None:
    """Act as the agents: report every second (the fixtures say report_interval=2)."""
    while not stop.is_set():
        for report in fixtures:
            url = f"{server_url}/api/v1/agents/{report['podname']}"
            http_status(url, "POST", json.dumps(report).encode())
        stop.wait(1.0)


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def scrape_count(stack: LiveStack) -> bool:
    result = prom_query(stack, f'count_over_time(up{{job="{JOB}"}}[1m])')
    return bool(result) and float(result[0]["value"][1]) >= MIN_SCRAPES


def all_rules_evaluated(stack: LiveStack) -> bool:
    groups = http_get_json(f"{stack.prometheus_url}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return bool(rules) and all(not r["lastEvaluation"].startswith("0001") for r in rules)


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    fixtures = load_fixtures()
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: run scripts/ensure-debian-packages (Debian package 'prometheus')")
    workdir = tmp_path_factory.mktemp("live")
    server_port, prometheus_port = free_port(), free_port()
    write_pods_file(workdir / "pods.yaml", fixtures)
    write_prometheus_config(workdir / "prometheus.yml", server_port)
    server = start(
        [
            sys.executable,
            "exporter.py",
            f"-endpoint=127.0.0.1:{server_port}",
            "-check-interval=1",
            "-pods-file",
            str(workdir / "pods.yaml"),
        ],
        workdir / "server.log",
    )
    prom = start(
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
        wait_until(
            lambda: http_status(f"{stack.server_url}/healthz") == 200,
            ignoring=(OSError,),
            timeout_seconds=20,
            what="the server's /healthz",
        )
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
        stop_process(server)


@pytest.mark.parametrize(("where", "expr"), dashboard_queries(load_dashboard()))
def test_dashboard_query_returns_data(live_stack: LiveStack, where: str, expr: str) -> None:
    query = substitute_variables(expr, DASHBOARD_VARIABLES)
    assert prom_query(live_stack, query), f"{where}: no data for {query}"


def test_dashboard_variable_queries_find_the_job_and_nodes(live_stack: LiveStack) -> None:
    assert prom_query(live_stack, "netchecker_build_info")[0]["metric"]["job"] == JOB
    nodes = {r["metric"]["node"] for r in prom_query(live_stack, f'netchecker_agent_status{{job="{JOB}"}}')}
    assert nodes == {f["nodename"] for f in live_stack.fixtures} | {"node-2"}


def test_every_rule_evaluates_without_error(live_stack: LiveStack) -> None:
    groups = http_get_json(f"{live_stack.prometheus_url}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    expected = [r for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]
    assert len(rules) == len(expected)
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not failing


def pending_alerts(stack: LiveStack) -> set[tuple[str, str]]:
    result = prom_query(stack, 'ALERTS{alertstate=~"pending|firing"}')
    return {(r["metric"]["alertname"], r["metric"].get("pod") or r["metric"].get("node", "")) for r in result}


def test_the_silent_agent_is_absent_and_its_alert_pending(live_stack: LiveStack) -> None:
    absent = prom_query(live_stack, 'netchecker_agent_status{status="absent"} == 1')
    assert [r["metric"]["pod"] for r in absent] == [SILENT_POD]
    assert ("NetcheckerAgentAbsent", SILENT_POD) in pending_alerts(live_stack)


def test_pod_network_probe_failure_with_healthy_host_network_is_pending_as_cni_fault(
    live_stack: LiveStack,
) -> None:
    failing = prom_query(live_stack, "netchecker_agent_probe_success == 0")
    assert {(r["metric"]["network"], r["metric"]["node"]) for r in failing} == {("pod", "node-1")}
    alerts = pending_alerts(live_stack)
    assert ("NetcheckerPodNetworkDownOnNode", "node-1") in alerts
    assert ("NetcheckerProbeFailing", failing[0]["metric"]["pod"]) in alerts


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
