"""What the exporter says about each agent, read from its /metrics (netchecker_agent_status one-hot)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.exporter import ExporterProcess


def agent_states(exporter: ExporterProcess) -> dict[str, str]:
    """pod name -> fresh / outdated / absent / starting."""
    states: dict[str, str] = {}
    for family in text_string_to_metric_families(exporter.metrics()):
        if family.name == "netchecker_agent_status":
            states.update({s.labels["pod"]: s.labels["status"] for s in family.samples if s.value == 1})
    return states


def pod_source_up(exporter: ExporterProcess) -> float | None:
    return exporter.metric('netchecker_pod_source_up{source="kubernetes"}')


def store_up(exporter: ExporterProcess) -> float | None:
    return exporter.metric("netchecker_store_up")
