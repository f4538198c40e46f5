"""A real `python exporter.py -max-metrics-bytes=...` flooded over HTTP with the largest reports it
accepts, on the memory store and on a real etcd: /metrics stays within the budget, a known agent
keeps reporting, every refusal is a 429 naming the flag and is counted."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import requests

from tests.support.exporter import ExporterProcess, metric_value
from tests.support.paths import load_fixture
from tests.support.polling import wait_until
from tests.support.reports import flood_report

pytestmark = [pytest.mark.process]

BUDGET = 6 * 1024 * 1024
"""About six maximal agents (32 probes with 2,048-byte URLs: ~1 MB of /metrics each)."""
KNOWN = "netchecker-agent-known"


def post(
    server: ExporterProcess, session: requests.Session, report: dict[str, Any], name: str
) -> requests.Response:
    body = json.dumps({**report, "podname": name})
    headers = {"Content-Type": "application/json"}
    return session.post(f"{server.url}/api/v1/agents/{name}", data=body, headers=headers, timeout=10)


def metrics_showing(server: ExporterProcess, pod: str) -> str | None:
    text = server.get("/metrics").text
    return text if f'pod="{pod}"' in text else None


@pytest.mark.parametrize("store", ["memory", pytest.param("etcd", marks=pytest.mark.etcd)])
def test_a_flood_of_maximal_reports_keeps_metrics_within_the_budget_while_a_known_agent_reports(
    store: str, request: pytest.FixtureRequest
) -> None:
    args = ["-check-interval=0.2", f"-max-metrics-bytes={BUDGET}"]
    if store == "etcd":
        args.append(f"-etcd-endpoints={request.getfixturevalue('etcd').url}")
    server = ExporterProcess(*args)
    session = requests.Session()
    known = load_fixture("agent-report-hostnet.json")
    try:
        empty = len(server.get("/metrics").content)
        statuses: Counter[int] = Counter()
        accepted = []
        for index in range(20):
            response = post(server, session, flood_report(index), f"netchecker-agent-flood-{index}")
            statuses[response.status_code] += 1
            if response.status_code == 429:
                assert "-max-metrics-bytes" in response.json()["error"]
            else:
                accepted.append(index)
            assert post(server, session, known, KNOWN).status_code == 200
        assert set(statuses) == {200, 429}, statuses
        last = f"netchecker-agent-flood-{accepted[-1]}"
        text = wait_until(lambda: metrics_showing(server, last), 10, f"{last} in /metrics")
        assert f'pod="{KNOWN}"' in text
        assert BUDGET / 2 < len(text.encode()) - empty <= BUDGET
        refused = metric_value(text, 'netchecker_reports_refused_total{reason="metrics_budget"}')
        assert refused == statuses[429]
        assert sorted(server.get("/api/v1/agents/").json()) == sorted(
            [KNOWN, *(f"netchecker-agent-flood-{i}" for i in accepted)]
        )
    finally:
        server.stop()
