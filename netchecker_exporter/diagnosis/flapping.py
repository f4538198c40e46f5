"""The flapping rule: a node that went between healthy and a problem at least k times in a window
(either way; diagnosis_history.NodeHistory.flips_since) is `flapping`.

Pure: (the checks' diagnosis, the history, settings) -> the diagnosis the views show. A node that
drops out for 20 s every few minutes looks healthy in most single passes; its history does not.
The finding ranks below the verdicts that say what is broken right now (checks.py).
"""

from __future__ import annotations

from dataclasses import replace

from netchecker_exporter.diagnosis.checks import PRECEDENCE, Finding, NodeVerdict, age_words
from netchecker_exporter.diagnosis.history import History, NodeHistory
from netchecker_exporter.diagnosis.nodes import Diagnosis, NodeDiagnosis, summarize
from netchecker_exporter.gil_slices import NO_PAUSE, Pause
from netchecker_exporter.settings import DiagnosisSettings


def flap_finding(node: NodeHistory, now: float, settings: DiagnosisSettings) -> Finding | None:
    """The flapping finding when the node changed verdict often enough within the window, else None."""
    window = settings.flap_window_seconds
    recent = node.flips_since(now - window)
    if len(recent) < settings.flap_transitions:
        return None
    last = recent[-1]
    seen = sorted({verdict for t in recent for verdict in (t.before, t.after)})
    reason = (
        f"it went between healthy and a problem {len(recent)} times in the last {age_words(window)} "
        f"({', '.join(v.replace('_', ' ') for v in seen)}; last {age_words(now - last.at)} ago, "
        f"to {last.after.replace('_', ' ')}): the problem comes and goes"
    )
    data = {
        "changes": len(recent),
        "threshold": settings.flap_transitions,
        "window_seconds": window,
        "verdicts": seen,
        "last_change_at": last.at,
    }
    return Finding(NodeVerdict.FLAPPING, reason, data)


def _flapping(node: NodeDiagnosis, finding: Finding) -> NodeDiagnosis:
    findings = tuple(sorted((*node.findings, finding), key=lambda f: PRECEDENCE[f.verdict]))
    return replace(node, verdict=findings[0].verdict, reason=findings[0].reason, findings=findings)


def apply_flapping(
    diagnosis: Diagnosis, history: History, settings: DiagnosisSettings, pause: Pause = NO_PAUSE
) -> Diagnosis:
    """The diagnosis with the flapping finding added where it holds, nodes ranked and summed again;
    `pause` is called once per node (gil_slices.py)."""
    nodes = []
    for node in diagnosis.nodes:
        past = history.nodes.get(node.node)
        finding = flap_finding(past, diagnosis.at, settings) if past and past.verdict_changes else None
        nodes.append(node if finding is None else _flapping(node, finding))
        pause()
    if all(new is old for new, old in zip(nodes, diagnosis.nodes, strict=True)):
        return diagnosis
    nodes.sort(key=lambda n: (PRECEDENCE[n.verdict], n.node))
    return replace(diagnosis, nodes=tuple(nodes), cluster=summarize(nodes, diagnosis.targets, settings))
