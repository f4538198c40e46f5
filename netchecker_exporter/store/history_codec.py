"""A node's history as the JSON value of its etcd key, and back, validated and bounded.

Pure. A stored value is read back like client input: another version, or someone's etcdctl, may
have written it, so every field is checked and every list cut to the limits.
"""

from __future__ import annotations

import json
from typing import Any

from netchecker_exporter.check import AgentStatus
from netchecker_exporter.diagnosis.checks import NodeVerdict
from netchecker_exporter.diagnosis.history import (
    MAX_REASON_CHARS,
    NODE,
    HistoryLimits,
    NodeHistory,
    Transition,
)

FORMAT_VERSION = 1
VERDICTS = frozenset(v.value for v in NodeVerdict)
STATUSES = frozenset(s.value for s in AgentStatus)
MAX_POD_CHARS = 253


def encode_node_history(node: NodeHistory) -> bytes:
    return json.dumps(
        {
            "version": FORMAT_VERSION,
            "verdict": node.verdict,
            "agents": [list(pair) for pair in node.agents],
            "changes_total": node.changes_total,
            "since": node.since,
            "verdict_changes": [[t.at, t.before, t.after, t.reason] for t in node.verdict_changes],
            "agent_changes": [[t.at, t.subject, t.before, t.after, t.reason] for t in node.agent_changes],
        },
        separators=(",", ":"),
    ).encode()


def decode_node_history(value: bytes, limits: HistoryLimits) -> NodeHistory:
    """The stored history; ValueError names what is wrong with it."""
    data = json.loads(value)
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} node history")
    verdict = _one_of(data.get("verdict"), VERDICTS, "verdict")
    agents = tuple(
        (_pod(pair[0]), _one_of(pair[1], STATUSES, "agent status")) for pair in _pairs(data.get("agents"))
    )
    total = data.get("changes_total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ValueError("changes_total is not a count")
    verdicts = [_verdict_change(item) for item in _list(data.get("verdict_changes"))]
    agent_changes = [_agent_change(item) for item in _list(data.get("agent_changes"))]
    return NodeHistory(
        verdict,
        agents[: 2 * limits.per_node],
        tuple(verdicts[-limits.per_node :]),
        tuple(agent_changes[-2 * limits.per_node :]),
        max(total, len(verdicts)),
        _time(data.get("since", 0)),
    )


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _pairs(value: Any) -> list[list[Any]]:
    items = _list(value)
    if not all(isinstance(item, list) and len(item) == 2 for item in items):
        raise ValueError("agents must be [pod, status] pairs")
    return items


def _one_of(value: Any, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {str(value)[:40]!r}")
    return str(value)


def _pod(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_POD_CHARS:
        raise ValueError("a pod name must be a string of 1 to 253 characters")
    return value


def _time(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e11:
        raise ValueError("a change's time must be seconds since the epoch")
    return float(value)


def _reason(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a reason must be a string")
    return value[:MAX_REASON_CHARS]


def _verdict_change(item: Any) -> Transition:
    if not isinstance(item, list) or len(item) != 4:
        raise ValueError("a verdict change is [at, before, after, reason]")
    at, before, after, reason = item
    return Transition(_time(at), NODE, _one_of(before, VERDICTS, "verdict"),
                      _one_of(after, VERDICTS, "verdict"), _reason(reason))  # fmt: skip


def _agent_change(item: Any) -> Transition:
    if not isinstance(item, list) or len(item) != 5:
        raise ValueError("an agent change is [at, pod, before, after, reason]")
    at, pod, before, after, reason = item
    return Transition(_time(at), _pod(pod), _one_of(before, STATUSES, "agent status"),
                      _one_of(after, STATUSES, "agent status"), _reason(reason))  # fmt: skip
