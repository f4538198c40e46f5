"""The per-agent rows of the family table: netchecker_agent_* per verdict, ncagent_* per legacy label.

Written line by line by agent_lines.py (10,000 agents), and by the test oracle (tests/support/oracle.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.metrics.families import Family, LegacyRow, Sample
from netchecker_exporter.report import AgentRecord

LEGACY = "Legacy k8s-netchecker-server metric."
AGENT_LABELS = ("pod", "namespace", "node", "network")
PROBE_LABELS = (*AGENT_LABELS, "url")
LEGACY_PHASES = ("total", "content_transfer", "tcp_connection", "dns_lookup", "connect", "server_processing")
"""The original's six ncagent_http_probe_*_time_ms families, in its order."""
DISJOINT_PHASES = ("dns_lookup", "tcp_connection", "server_processing", "content_transfer")
"""go-httpstat's phases that do not overlap (its `Connect` and `Total` are cumulative)."""


def newest_by_legacy_agent(verdicts: Iterable[AgentVerdict]) -> list[LegacyRow]:
    """The verdict with the newest record per legacy `agent` label (two pods on one node collide), sorted."""
    newest: dict[str, tuple[float, AgentVerdict]] = {}
    for verdict in verdicts:
        if verdict.record is None:
            continue
        label, updated = verdict.legacy_agent_label, verdict.record.last_updated
        current = newest.get(label)
        if current is None or current[0] < updated:
            newest[label] = (updated, verdict)
    return [LegacyRow(agent, verdict) for agent, (_, verdict) in sorted(newest.items())]


def _agent(verdict: AgentVerdict) -> tuple[str, ...]:
    pod = verdict.pod
    return (pod.name, pod.namespace, verdict.node, pod.network.value)


AgentRead = Callable[[AgentVerdict, AgentRecord], float]
"""A value from an agent's verdict and its record."""


def _per_agent(read: AgentRead) -> Callable[[AgentVerdict], Iterator[Sample]]:
    """Samples of a per-agent family: one per agent that has a record."""

    def samples(verdict: AgentVerdict) -> Iterator[Sample]:
        if verdict.record is not None:
            yield _agent(verdict), float(read(verdict, verdict.record))

    return samples


def _status(verdict: AgentVerdict) -> Iterator[Sample]:
    agent = _agent(verdict)
    for state in AgentStatus:
        yield (*agent, state.value), 1.0 if verdict.status is state else 0.0


def _probe_samples(
    read: Callable[[str, dict[str, int | None], tuple[int, int]], Iterable[tuple[tuple[str, ...], float]]],
) -> Callable[[AgentVerdict], Iterator[Sample]]:
    """Samples of a per-probe family; `read(url, phases, (connected, code))` yields (extra labels, value)."""

    def samples(verdict: AgentVerdict) -> Iterator[Sample]:
        if verdict.record is None:
            return
        agent = _agent(verdict)
        for probe in verdict.record.report.network_probes:
            outcome = (1 if probe.succeeded else 0, probe.http_code)
            for extra, value in read(probe.url, dict(probe.phase_ms), outcome):
                yield (*agent, probe.url, *extra), float(value)

    return samples


def _seconds(milliseconds: int | None) -> Iterator[float]:
    """A phase the agent did not time (None) has no sample."""
    if milliseconds is not None:
        yield milliseconds / 1000


AGENT_FAMILIES: tuple[Family[AgentVerdict], ...] = (
    Family(
        "netchecker_agent_status",
        "gauge",
        "Agent state, one-hot: fresh, outdated, absent, starting.",
        (*AGENT_LABELS, "status"),
        _status,
    ),
    Family(
        "netchecker_agent_last_report_timestamp_seconds",
        "gauge",
        "When the server accepted the agent's last report (epoch seconds).",
        AGENT_LABELS,
        _per_agent(lambda _verdict, record: record.last_updated),
    ),
    Family(
        "netchecker_agent_report_interval_seconds",
        "gauge",
        "The agent's report interval.",
        AGENT_LABELS,
        _per_agent(lambda _verdict, record: record.report.report_interval),
    ),
    Family(
        "netchecker_agent_reports",
        "counter",
        "Reports accepted from the agent.",
        AGENT_LABELS,
        _per_agent(lambda _verdict, record: record.report_count),
    ),
    Family(
        "netchecker_agent_missed_keepalives",
        "counter",
        "Full 2 x report-interval windows that passed without a report.",
        AGENT_LABELS,
        _per_agent(lambda verdict, _record: verdict.missed_keepalives),
    ),
    Family(
        "netchecker_agent_probe_success",
        "gauge",
        "1 if the agent's HTTP probe connected and got a 2xx.",
        PROBE_LABELS,
        _probe_samples(lambda _url, _phases, outcome: [((), outcome[0])]),
    ),
    Family(
        "netchecker_agent_probe_http_status_code",
        "gauge",
        "HTTP status of the probe (0: no response).",
        PROBE_LABELS,
        _probe_samples(lambda _url, _phases, outcome: [((), outcome[1])]),
    ),
    Family(
        "netchecker_agent_probe_http_duration_seconds",
        "gauge",
        "Time of each disjoint probe phase (go-httpstat's; TLS handshake not reported by the agent).",
        (*PROBE_LABELS, "phase"),
        _probe_samples(
            lambda _url, phases, _outcome: [
                ((phase,), seconds) for phase in DISJOINT_PHASES for seconds in _seconds(phases.get(phase))
            ]
        ),
    ),
    Family(
        "netchecker_agent_probe_duration_seconds",
        "gauge",
        "Total time of the probe, from the start of the request to the end of the body.",
        PROBE_LABELS,
        _probe_samples(lambda _url, phases, _outcome: [((), s) for s in _seconds(phases.get("total"))]),
    ),
)


def _legacy_agent(read: AgentRead) -> Callable[[LegacyRow], Iterator[Sample]]:
    """Samples of a per-label legacy family (a legacy row always has a record)."""

    def samples(row: LegacyRow) -> Iterator[Sample]:
        if row.verdict.record is not None:
            yield (row.agent,), float(read(row.verdict, row.verdict.record))

    return samples


def _legacy_probe(
    read: Callable[[int, int, dict[str, int | None]], int | None],
) -> Callable[[LegacyRow], Iterator[Sample]]:
    """Per-probe legacy samples; `read(connection_result, http_code, phases)`, None: no sample."""

    def samples(row: LegacyRow) -> Iterator[Sample]:
        record = row.verdict.record
        for probe in record.report.network_probes if record is not None else ():
            value = read(probe.connection_result, probe.http_code, dict(probe.phase_ms))
            if value is not None:
                yield (row.agent, probe.url), float(value)

    return samples


def _legacy_phase(phase: str) -> Family[LegacyRow]:
    return Family(
        f"ncagent_http_probe_{phase}_time_ms",
        "gauge",
        f"{LEGACY} Probe {phase} time in ms.",
        ("agent", "url"),
        _legacy_probe(lambda _connected, _code, phases: phases.get(phase)),
    )


LEGACY_FAMILIES: tuple[Family[LegacyRow], ...] = (
    Family(
        "ncagent_report_count",
        "counter",
        f"{LEGACY} Reports received.",
        ("agent",),
        _legacy_agent(lambda _verdict, record: record.report_count),
    ),
    Family(
        "ncagent_error_count",
        "counter",
        f"{LEGACY} Missed keepalives (2 x report interval).",
        ("agent",),
        _legacy_agent(lambda verdict, _record: verdict.missed_keepalives),
    ),
    Family(
        "ncagent_http_probe_connection_result",
        "gauge",
        f"{LEGACY} 1 if the probe connected.",
        ("agent", "url"),
        _legacy_probe(lambda connected, _code, _phases: connected),
    ),
    Family(
        "ncagent_http_probe_code",
        "gauge",
        f"{LEGACY} HTTP status code.",
        ("agent", "url"),
        _legacy_probe(lambda _connected, code, _phases: code),
    ),
    *(_legacy_phase(phase) for phase in LEGACY_PHASES),
)
