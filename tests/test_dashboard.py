"""The Grafana dashboard: well-formed for Grafana 10, on a datasource variable, only real metrics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.kit import dashboard_queries, iter_panels, load_dashboard, promql_metric_names
from tests.support.metrics import exported_families, exposition_text, full_snapshot

# What the server exports (a real exposition of every family) plus Prometheus's own `up`.
EXPORTED_METRICS = {
    "up",
    *exported_families(exposition_text(full_snapshot())),
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
}

DASHBOARD = load_dashboard()
PANELS = [panel for panel in iter_panels(DASHBOARD["panels"]) if panel["type"] != "row"]


def test_dashboard_targets_grafana_10_schema() -> None:
    assert DASHBOARD["schemaVersion"] >= 38
    assert DASHBOARD["uid"] and DASHBOARD["title"]


def test_dashboard_has_a_prometheus_datasource_variable() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_and_variable_uses_the_datasource_variable() -> None:
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    query_variables = [v for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
    for item in [*PANELS, *query_variables]:
        assert item["datasource"] == wanted, item["title" if "title" in item else "name"]
    for panel in PANELS:
        assert all(target["datasource"] == wanted for target in panel["targets"]), panel["title"]


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    panels = list(iter_panels(DASHBOARD["panels"]))
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        columns, rows = range(pos["x"], pos["x"] + pos["w"]), range(pos["y"], pos["y"] + pos["h"])
        mine = {(x, y) for x in columns for y in rows}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


@pytest.mark.parametrize(("where", "expr"), dashboard_queries(DASHBOARD))
def test_dashboard_query_uses_only_exported_metrics(where: str, expr: str) -> None:
    names = promql_metric_names(expr)
    assert names, f"{where}: found no metric in {expr!r}"
    assert names <= EXPORTED_METRICS, f"{where}: unknown metrics {names - EXPORTED_METRICS}"


def sections() -> dict[str, list[str]]:
    """Panel titles per row title."""
    result: dict[str, list[str]] = {}
    current = ""
    for panel in iter_panels(DASHBOARD["panels"]):
        if panel["type"] == "row":
            current = panel["title"]
        else:
            result.setdefault(current, []).append(panel["title"])
    return result


def test_dashboard_covers_verdict_nodes_reports_probes_and_server_health() -> None:
    rows = sections()
    assert set(rows) == {
        "Cluster verdict",
        "Nodes: pod network vs host network",
        "Reports",
        "Probes",
        "Server self-health",
        "Diagnosis: what is broken, where",
    }
    assert {"Expected agents", "Absent", "Outdated"} <= set(rows["Cluster verdict"])
    assert {"Per-node state"} <= set(rows["Nodes: pod network vs host network"])
    assert {"Report age"} <= set(rows["Reports"])
    assert {"Probe success by URL", "Probe latency by phase"} <= set(rows["Probes"])
    assert {"Since last reconcile", "Store", "Pod source", "Reports ingested by result"} <= set(
        rows["Server self-health"]
    )
    assert {"Cluster diagnosis", "Nodes with a problem", "Probe targets", "Clock skew per node",
            "Verdict changes per node"} <= set(rows["Diagnosis: what is broken, where"])  # fmt: skip


def test_promql_metric_names_ignores_functions_labels_and_keywords() -> None:
    expr = 'max by (node) (rate(a_total{job="$job"}[$__rate_interval])) and on (node) b == 1 or time() - c'
    assert promql_metric_names(expr) == {"a_total", "b", "c"}


def test_every_query_panel_has_a_description() -> None:
    missing: list[Any] = [panel["title"] for panel in PANELS if not panel.get("description")]
    assert not missing
