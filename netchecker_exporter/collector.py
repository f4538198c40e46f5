"""Render the last Snapshot as Prometheus metric families; never does I/O.

Families are rebuilt from the Snapshot at every scrape, so an agent whose pod is gone simply
stops appearing: nothing has to be unregistered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.report import PROBE_PHASES
from netchecker_exporter.snapshot import Snapshot

AGENT_LABELS = ("pod", "namespace", "node", "network")
LEGACY = "Legacy k8s-netchecker-server metric."


class SnapshotCollector(Collector):
    """A custom collector over whatever Snapshot `snapshot` returns at scrape time."""

    def __init__(self, snapshot: Callable[[], Snapshot], *, version: str) -> None:
        self._snapshot = snapshot
        self._version = version

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        yield from legacy_families(snapshot.verdicts)
        yield from cluster_families(snapshot.verdicts)
        yield from agent_families(snapshot.verdicts)
        yield from probe_families(snapshot.verdicts)
        yield from health_families(snapshot, self._version)


def newest_by_legacy_agent(verdicts: Iterable[AgentVerdict]) -> dict[str, AgentVerdict]:
    """The verdict with the newest record per legacy `agent` label (two pods on one node collide)."""
    newest: dict[str, AgentVerdict] = {}
    for verdict in verdicts:
        if verdict.record is None:
            continue
        current = newest.get(verdict.legacy_agent_label)
        if current is None or _last_updated(current) < verdict.record.last_updated:
            newest[verdict.legacy_agent_label] = verdict
    return newest


def _last_updated(verdict: AgentVerdict) -> float:
    return verdict.record.last_updated if verdict.record is not None else 0.0


def legacy_families(verdicts: Iterable[AgentVerdict]) -> Iterator[Metric]:
    """The original's ncagent_* families, named and labelled exactly as it exported them."""
    reports = CounterMetricFamily("ncagent_report_count", f"{LEGACY} Reports received.", labels=["agent"])
    errors = CounterMetricFamily(
        "ncagent_error_count", f"{LEGACY} Missed keepalives (2 x report interval).", labels=["agent"]
    )
    connection = GaugeMetricFamily(
        "ncagent_http_probe_connection_result", f"{LEGACY} 1 if the probe connected.", labels=["agent", "url"]
    )
    code = GaugeMetricFamily(
        "ncagent_http_probe_code", f"{LEGACY} HTTP status code.", labels=["agent", "url"]
    )
    phases = {
        phase: GaugeMetricFamily(
            f"ncagent_http_probe_{phase}_time_ms",
            f"{LEGACY} Probe {phase} time in ms.",
            labels=["agent", "url"],
        )
        for phase, _ in PROBE_PHASES
    }
    for agent, verdict in sorted(newest_by_legacy_agent(verdicts).items()):
        assert verdict.record is not None
        reports.add_metric([agent], verdict.record.report_count)
        errors.add_metric([agent], verdict.missed_keepalives)
        for probe in verdict.record.report.network_probes:
            labels = [agent, probe.url]
            connection.add_metric(labels, probe.connection_result)
            code.add_metric(labels, probe.http_code)
            for phase, milliseconds in probe.phase_ms:
                if milliseconds is None:  # not timed by the agent: no sample
                    continue
                phases[phase].add_metric(labels, milliseconds)
    yield from (reports, errors, connection, code, *phases.values())


def cluster_families(verdicts: tuple[AgentVerdict, ...]) -> Iterator[Metric]:
    def count(status: AgentStatus) -> int:
        return sum(1 for v in verdicts if v.status is status)

    yield GaugeMetricFamily(
        "netchecker_agents_expected", "Agent pods expected to report.", value=len(verdicts)
    )
    yield GaugeMetricFamily(
        "netchecker_agents_absent", "Expected agents with no stored report.", value=count(AgentStatus.ABSENT)
    )
    yield GaugeMetricFamily(
        "netchecker_agents_outdated",
        "Agents whose last report is older than 2 x their report interval.",
        value=count(AgentStatus.OUTDATED),
    )


def _agent_labels(verdict: AgentVerdict) -> list[str]:
    pod = verdict.pod
    return [pod.name, pod.namespace, verdict.node, pod.network.value]


def agent_families(verdicts: Iterable[AgentVerdict]) -> Iterator[Metric]:
    labels = list(AGENT_LABELS)
    status = GaugeMetricFamily(
        "netchecker_agent_status",
        "Agent state, one-hot: fresh, outdated, absent, starting.",
        labels=[*labels, "status"],
    )
    age = GaugeMetricFamily(
        "netchecker_agent_report_age_seconds", "Seconds since the last report.", labels=labels
    )
    interval = GaugeMetricFamily(
        "netchecker_agent_report_interval_seconds", "The agent's report interval.", labels=labels
    )
    reports = CounterMetricFamily(
        "netchecker_agent_reports", "Reports accepted from the agent.", labels=labels
    )
    missed = CounterMetricFamily(
        "netchecker_agent_missed_keepalives",
        "Full 2 x report-interval windows that passed without a report.",
        labels=labels,
    )
    for verdict in verdicts:
        values = _agent_labels(verdict)
        for state in AgentStatus:
            status.add_metric([*values, state.value], 1.0 if verdict.status is state else 0.0)
        if verdict.record is not None and verdict.report_age_seconds is not None:
            age.add_metric(values, verdict.report_age_seconds)
            interval.add_metric(values, verdict.record.report.report_interval)
            reports.add_metric(values, verdict.record.report_count)
            missed.add_metric(values, verdict.missed_keepalives)
    yield from (status, age, interval, reports, missed)


def probe_families(verdicts: Iterable[AgentVerdict]) -> Iterator[Metric]:
    labels = [*AGENT_LABELS, "url"]
    success = GaugeMetricFamily(
        "netchecker_agent_probe_success",
        "1 if the agent's HTTP probe connected and got a 2xx.",
        labels=labels,
    )
    code = GaugeMetricFamily(
        "netchecker_agent_probe_http_status_code", "HTTP status of the probe (0: no response).", labels=labels
    )
    duration = GaugeMetricFamily(
        "netchecker_agent_probe_duration_seconds", "Time of each probe phase.", labels=[*labels, "phase"]
    )
    for verdict in verdicts:
        if verdict.record is None:
            continue
        agent = _agent_labels(verdict)
        for probe in verdict.record.report.network_probes:
            values = [*agent, probe.url]
            success.add_metric(values, 1.0 if probe.succeeded else 0.0)
            code.add_metric(values, probe.http_code)
            for phase, milliseconds in probe.phase_ms:
                if milliseconds is None:  # not timed by the agent: no sample
                    continue
                duration.add_metric([*values, phase], milliseconds / 1000)
    yield from (success, code, duration)


def health_families(snapshot: Snapshot, version: str) -> Iterator[Metric]:
    """The checker's own health: a stalled or blind checker must not look healthy."""
    yield GaugeMetricFamily(
        "netchecker_reconcile_last_success_timestamp_seconds",
        "When the last reconcile pass succeeded (0: never).",
        value=snapshot.last_success_timestamp or 0.0,
    )
    if snapshot.last_duration_seconds is not None:
        yield GaugeMetricFamily(
            "netchecker_reconcile_duration_seconds",
            "Duration of the last successful reconcile pass.",
            value=snapshot.last_duration_seconds,
        )
    yield CounterMetricFamily(
        "netchecker_reconcile_failures", "Reconcile passes that failed.", value=snapshot.failures_total
    )
    yield GaugeMetricFamily(
        "netchecker_store_up", "1 if the report store is reachable.", value=snapshot.store.up
    )
    source_up = GaugeMetricFamily(
        "netchecker_pod_source_up", "1 if the pod source is in touch with its origin.", labels=["source"]
    )
    source_up.add_metric([snapshot.pod_source_kind], 1.0 if snapshot.pod_source.up else 0.0)
    yield source_up
    yield GaugeMetricFamily(
        "netchecker_pod_source_last_sync_timestamp_seconds",
        "When the pod source last synced with its origin (0: never).",
        value=snapshot.pod_source.last_sync_timestamp or 0.0,
    )
    info = InfoMetricFamily("netchecker_build", "Version of netchecker-exporter.")
    info.add_metric([], {"version": version})
    yield info
