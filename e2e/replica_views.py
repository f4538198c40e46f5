"""What each replica answers, read over HTTP for comparison: the JSON views (minus what depends on
the moment of reading), the per-agent counters its /metrics shard exports, and its watch lag."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import requests

from e2e.replica_fleet import post_report, report_body

_PER_AGENT = re.compile(
    r"^(netchecker_agent_reports_total|netchecker_agent_missed_keepalives_total)"
    r'\{[^}]*pod="([^"]+)"[^}]*\} (\S+)$',
    re.MULTILINE,
)


def get_json(url: str, path: str) -> tuple[int, Any]:
    reply = requests.get(url + path, timeout=10)
    return reply.status_code, reply.json()


_AGE_WORDS = re.compile(r"\b[0-9.]+ (s|min|h) ago\b")
"""An age in a diagnosis text (diagnosis/checks.py, age_words): it moves with the replica's last pass."""


def views(url: str) -> dict[str, Any]:
    """connectivity_check, the stored agents and the diagnosis, without the time of the pass: the
    diagnosis' `at`, each agent's age and the ages in its texts differ between two passes of one
    replica too (each replica passes at its own moments)."""
    diagnosis = get_json(url, "/api/v1/diagnosis")[1]
    diagnosis.pop("at", None)
    for node in diagnosis["nodes"]:
        for agent in node["agents"]:
            agent.pop("report_age_seconds", None)
    diagnosis = json.loads(_AGE_WORDS.sub("some time ago", json.dumps(diagnosis)))
    return {
        "connectivity_check": get_json(url, "/api/v1/connectivity_check"),
        "agents": get_json(url, "/api/v1/agents/")[1],
        "diagnosis": diagnosis,
    }


def agent_counters(url: str) -> dict[str, dict[str, float]]:
    """pod -> {family: value} of the per-agent counters this replica's shard exports."""
    text = requests.get(url + "/metrics", timeout=10).text
    found: dict[str, dict[str, float]] = {}
    for family, pod, value in _PER_AGENT.findall(text):
        found.setdefault(pod, {})[family] = float(value)
    return found


def shard_union(urls: list[str]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Every shard's per-agent counters merged, and the pods more than one shard exports."""
    merged: dict[str, dict[str, float]] = {}
    twice: list[str] = []
    for url in urls:
        for pod, counters in agent_counters(url).items():
            if pod in merged:
                twice.append(pod)
            merged[pod] = counters
    return merged, twice


def stored_records(etcdctl_output: str) -> dict[str, dict[str, Any]]:
    """`etcdctl get --prefix .../agents/ --print-value-only`: pod -> the stored record."""
    records = (json.loads(line) for line in etcdctl_output.splitlines() if line.strip())
    return {record["podname"]: record for record in records}


def watch_lag_seconds(
    writer: str, readers: list[str], pod: str, node: str, timeout_seconds: float = 30
) -> list[float]:
    """POST one report to `writer`; for each reader, the seconds from the 200 until its
    GET /api/v1/agents/<pod> shows that very report (its hostdate)."""
    body = report_body(pod, node, 10)
    hostdate = json.loads(body)["hostdate"]
    status = post_report(writer, pod, body)
    assert status == 200, f"the lag probe's POST to {writer} answered {status}"
    acknowledged = time.monotonic()
    lags: dict[str, float] = {}
    while len(lags) < len(readers):
        for reader in (r for r in readers if r not in lags):
            reply = requests.get(f"{reader}/api/v1/agents/{pod}", timeout=10)
            if reply.status_code == 200 and reply.json().get("hostdate") == hostdate:
                lags[reader] = time.monotonic() - acknowledged
        if time.monotonic() - acknowledged > timeout_seconds:
            raise TimeoutError(f"{sorted(set(readers) - set(lags))} did not show {pod}'s report in time")
        time.sleep(0.01)
    return list(lags.values())
