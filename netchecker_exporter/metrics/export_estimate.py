"""How many bytes of /metrics one stored agent can make, estimated from its report's label lengths.

Pure. -max-metrics-bytes charges each report this estimate at ingest (store/metrics_budget.py):
cheap arithmetic, seven coefficients times the number of probes and the lengths of the pod name,
the node name and each probe URL. The coefficients are measured once, by rendering a dozen
synthetic agents with the real writers (agent_lines.render_agent, and diagnosis_metrics for the
per-node and per-URL families the agent's node and URLs add), so a family or label added there is
counted here without a second table to keep in step. The synthetic agents carry the widest value
each sample can take (a counter at 2**53, every phase timed, a namespace of 63 bytes, a node that
is not healthy, floats of 17 digits and an exponent), so the estimate is an upper bound on what
the agent adds to /metrics, as if no other agent shared its node or URLs;
tests/test_metrics_budget.py holds it within 1.8x of the rendered bytes of the real agents'
fixtures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from netchecker_exporter.check import AgentStatus, AgentVerdict, ExpectedPod, network_of_pod_name
from netchecker_exporter.diagnosis.checks import NodeVerdict
from netchecker_exporter.diagnosis.nodes import diagnose
from netchecker_exporter.metrics.agent_lines import render_agent
from netchecker_exporter.metrics.diagnosis_metrics import node_families, target_families
from netchecker_exporter.report import PROBE_PHASES, AgentRecord, AgentReport, NetworkProbe
from netchecker_exporter.report_values import MAX_COUNTER, MAX_PHASE_MS
from netchecker_exporter.settings import DiagnosisSettings

NAMESPACE_BYTES = 63
"""The pod source's namespace label is not in the report: charged at a namespace's longest."""
_WIDEST_EPOCH = 1_764_590_000.1234567
"""An epoch with 17 significant digits, the most a float prints with."""
_WIDEST_MS = MAX_PHASE_MS - 1
_WIDEST_FLOAT = -1.2345678901234567e-300
"""A float as wide as any prints (sign, 17 digits, a three-digit exponent)."""
_WIDEST_NODE_VERDICT = max(NodeVerdict, key=lambda verdict: len(verdict.value))
_MANY_NODES = ("",) * 99_999
"""Failing nodes of a URL, as many digits wide as a fleet under -max-agents can make."""
_POD_NAMES = ("hostnet", "hostneu")
"""Seven bytes each: one is a host-network agent (`network="host"`, `-host_network`), one is not."""


def label_bytes(value: str) -> int:
    """Bytes of `value` as a label in the text format: UTF-8, with `\\` and `"` escaped (ingest
    refuses control characters, so no newline needs escaping)."""
    size = len(value) if value.isascii() else len(value.encode())
    return size + value.count("\\") + value.count('"')


@dataclass(frozen=True, slots=True)
class ExportEstimate:
    """Bytes of an agent's lines: per agent, a base plus so much per byte of pod and node name (the
    per-agent lines); per probe, the same again plus so much per URL byte (the per-probe lines)."""

    agent: tuple[int, int, int]
    """Bytes of an agent with a 7-byte pod name, a 1-byte node name and no probes; per pod-name
    byte; per node-name byte."""
    probe: tuple[int, int, int, int]
    """Bytes of one more probe with a 1-byte URL, every phase timed; per pod-name byte, per
    node-name byte and per URL byte of its lines."""

    @classmethod
    def calibrate(cls, *, legacy_metrics: bool) -> ExportEstimate:
        """Measure the coefficients with the renderer: a dozen synthetic agents, at start-up."""

        def size(pod: str = "", node: str = "n", urls: Sequence[str] = ()) -> int:
            pods = (pod,) if pod else _POD_NAMES
            return max(_rendered_bytes(name, node, urls, legacy_metrics=legacy_metrics) for name in pods)

        def coefficients(urls: Sequence[str]) -> tuple[int, int, int]:
            base = size(urls=urls)
            pod = size(pod=_POD_NAMES[1] + "x", urls=urls) - size(pod=_POD_NAMES[1], urls=urls)
            return base, pod, size(node="nn", urls=urls) - base

        agent = coefficients(())
        probe = tuple(one - none for one, none in zip(coefficients(("u",)), agent, strict=True))
        url = size(urls=("uu",)) - size(urls=("u",))
        return cls(agent, (probe[0], probe[1], probe[2], url))

    def __call__(self, report: AgentReport) -> int:
        """The estimate for `report`'s agent: what charging it costs against -max-metrics-bytes."""
        pod = label_bytes(report.podname) - len(_POD_NAMES[0])
        node = label_bytes(report.nodename) - 1
        urls = sum(label_bytes(probe.url) - 1 for probe in report.network_probes)
        probes = len(report.network_probes)
        base, per_pod, per_node = self.agent
        probe, probe_pod, probe_node, per_url = self.probe
        agent_bytes = base + per_pod * pod + per_node * node
        return agent_bytes + probes * (probe + probe_pod * pod + probe_node * node) + per_url * urls


def _rendered_bytes(pod: str, node: str, urls: Sequence[str], *, legacy_metrics: bool) -> int:
    verdict = _widest_verdict(pod, node, urls)
    lines = render_agent(verdict, legacy_metrics=legacy_metrics)
    return sum(map(len, lines.agent)) + sum(map(len, lines.legacy)) + _diagnosis_bytes(verdict)


def _diagnosis_bytes(verdict: AgentVerdict) -> int:
    """The per-node and per-URL diagnosis lines of the agent's node and URLs, at their widest, in
    the wider of the two formats; the families' HELP and TYPE lines are the server's, not the agent's."""
    diagnosis = diagnose([verdict], _WIDEST_EPOCH, DiagnosisSettings())
    nodes = tuple(
        dataclasses.replace(
            node,
            verdict=_WIDEST_NODE_VERDICT,
            clock_skew_seconds=_WIDEST_FLOAT,
            reboots=MAX_COUNTER - 1,
            last_boot_timestamp=_WIDEST_FLOAT,
        )
        for node in diagnosis.nodes
    )
    targets = tuple(
        dataclasses.replace(target, nodes_probing=MAX_COUNTER - 1, failing_nodes=_MANY_NODES)
        for target in diagnosis.targets
    )
    widest = dataclasses.replace(diagnosis, nodes=nodes, targets=targets)
    empty = dataclasses.replace(diagnosis, nodes=(), targets=())
    return _encoded_bytes([*node_families(widest), *target_families(widest)]) - _encoded_bytes(
        [*node_families(empty), *target_families(empty)]
    )


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def _encoded_bytes(families: list[Metric]) -> int:
    collector: Any = _Families(families)
    text = len(generate_latest(collector))
    return max(text, len(openmetrics.generate_latest(collector)))  # type: ignore[no-untyped-call]


def _widest_verdict(pod: str, node: str, urls: Sequence[str]) -> AgentVerdict:
    """An agent whose every sample prints as wide as any can."""
    phases = tuple((phase, _WIDEST_MS) for phase, _key in PROBE_PHASES)
    probes = tuple(NetworkProbe(url, 1, 999, phases) for url in urls)
    report = AgentReport(
        podname=pod,
        nodename=node,
        report_interval=86_399,
        hostdate="",
        uptime=0,
        nslookup={},
        ips={},
        network_probes=probes,
    )
    record = AgentRecord(report, _WIDEST_EPOCH, report_count=MAX_COUNTER - 1, missed_keepalives=0)
    expected = ExpectedPod(name=pod, namespace="n" * NAMESPACE_BYTES, network=network_of_pod_name(pod))
    return AgentVerdict(expected, AgentStatus.FRESH, record, missed_keepalives=MAX_COUNTER - 1)
