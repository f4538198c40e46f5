"""GET /api/v1/diagnosis/history?node=NAME: the query, checked, and one node's history as JSON.

Pure: (query string, Snapshot) -> JSON, or an error the API maps (400 bad query, 404 unknown node).
The query is the client's: one `node` parameter, valid UTF-8, a node name's length, nothing else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from netchecker_exporter.diagnosis.checks import NodeVerdict
from netchecker_exporter.diagnosis.history import NodeHistory, Transition
from netchecker_exporter.errors import InvalidQueryError, UnknownNodeError
from netchecker_exporter.report import format_timestamp
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot

MAX_NODE_NAME_BYTES = 253
"""As at ingest (report_values.py): a node name is at most 253 bytes of UTF-8."""
MAX_QUERY_FIELDS = 8
ALLOWED_PARAMETERS = frozenset({"node"})


def parse_history_query(query_string: str) -> str:
    """The node asked for; InvalidQueryError says what is wrong with the query."""
    try:
        fields = parse_qsl(query_string, keep_blank_values=True, errors="strict",
                           max_num_fields=MAX_QUERY_FIELDS)  # fmt: skip
    except (ValueError, UnicodeDecodeError):
        raise InvalidQueryError(
            f"the query is not valid UTF-8 form data of at most {MAX_QUERY_FIELDS} fields"
        ) from None
    unknown = sorted({name for name, _ in fields} - ALLOWED_PARAMETERS)
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:3])
        raise InvalidQueryError(f"unknown query parameter {names}: only 'node' is accepted")
    nodes = [value for _, value in fields]
    if len(nodes) != 1:
        raise InvalidQueryError("give exactly one node: ?node=NAME")
    node = nodes[0]
    if not 0 < len(node.encode()) <= MAX_NODE_NAME_BYTES or not node.isprintable():
        raise InvalidQueryError(f"node must be 1 to {MAX_NODE_NAME_BYTES} bytes of printable UTF-8")
    return node


def history_to_json(snapshot: Snapshot, node: str, settings: DiagnosisSettings) -> dict[str, Any]:
    """The node's changes, oldest first, with its current verdict and the flapping rule's count."""
    past = snapshot.history.nodes.get(node)
    current = next((n for n in snapshot.diagnosis.nodes if n.node == node), None)
    if past is None and current is None:
        raise UnknownNodeError(f"no history for node {node[:253]!r}: it was never judged")
    past = past or NodeHistory(current.verdict.value if current else "", ())
    at = snapshot.diagnosis.at
    window = settings.flap_window_seconds
    recent = len(past.flips_since(at - window))
    return {
        "node": node,
        "at": format_timestamp(at) if at else None,
        "verdict": current.verdict.value if current else None,
        "flapping": {
            "flapping": current is not None
            and any(f.verdict is NodeVerdict.FLAPPING for f in current.findings),
            "changes_in_window": recent,
            "threshold": settings.flap_transitions,
            "window_seconds": window,
        },
        "changes_total": past.changes_total,
        "transitions": [_change(t) for t in past.verdict_changes],
        "agents": [{"pod": t.subject, **_change(t)} for t in past.agent_changes],
    }


def _change(transition: Transition) -> dict[str, Any]:
    return {
        "at": format_timestamp(transition.at),
        "from": transition.before,
        "to": transition.after,
        "reason": transition.reason,
    }
