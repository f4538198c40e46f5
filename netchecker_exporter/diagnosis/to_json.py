"""The diagnosis as the JSON of GET /api/v1/diagnosis: a plain rendering of the Snapshot's Diagnosis."""

from __future__ import annotations

from typing import Any

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.diagnosis.nodes import (
    Diagnosis,
    NodeDiagnosis,
    NodeVerdict,
    TargetDiagnosis,
    TargetVerdict,
)
from netchecker_exporter.report import format_timestamp


def diagnosis_to_json(diagnosis: Diagnosis, *, problems_only: bool = False) -> dict[str, Any]:
    """The whole diagnosis; `problems_only` leaves out healthy nodes and ok targets (?problems=1)."""
    cluster = diagnosis.cluster
    nodes = [n for n in diagnosis.nodes if not problems_only or n.verdict is not NodeVerdict.HEALTHY]
    targets = [t for t in diagnosis.targets if not problems_only or t.verdict is not TargetVerdict.OK]
    return {
        "at": format_timestamp(diagnosis.at) if diagnosis.at else None,
        "cluster": {
            "verdict": cluster.verdict,
            "reason": cluster.reason,
            "nodes_judged": cluster.nodes_judged,
            "nodes_by_verdict": {verdict.value: count for verdict, count in cluster.counts.items()},
        },
        "targets": [target_to_json(target) for target in targets],
        "nodes": [node_to_json(node) for node in nodes],
    }


def target_to_json(target: TargetDiagnosis) -> dict[str, Any]:
    return {
        "url": target.url,
        "verdict": target.verdict.value,
        "reason": target.reason,
        "nodes_probing": target.nodes_probing,
        "failing_nodes": list(target.failing_nodes),
    }


def node_to_json(node: NodeDiagnosis) -> dict[str, Any]:
    return {
        "node": node.node,
        "verdict": node.verdict.value,
        "reason": node.reason,
        "evidence": [
            {"verdict": finding.verdict.value, "reason": finding.reason, "data": dict(finding.data)}
            for finding in node.findings
        ],
        **{name: {"ok": aspect.ok, "text": aspect.text} for name, aspect in node.aspects.items()},
        "clock_skew_seconds": node.clock_skew_seconds,
        "reboots": node.reboots,
        "last_boot": format_timestamp(node.last_boot_timestamp) if node.last_boot_timestamp else None,
        "agents": [agent_to_json(agent, node.facts.now) for agent in node.agents],
    }


def agent_to_json(agent: AgentVerdict, now: float) -> dict[str, Any]:
    """One agent as of the diagnosis's pass (`now`), its age included."""
    return {
        "pod": agent.pod.name,
        "namespace": agent.pod.namespace,
        "network": agent.pod.network.value,
        "status": agent.status.value,
        "report_age_seconds": agent.report_age_at(now),
        "last_updated": format_timestamp(agent.record.last_updated) if agent.record else None,
    }
