"""An agent's cached lines given a new verdict's numbers, when the verdict's labels did not change.

Writing an agent's ~40 lines from the family table (agent_lines.py) cost ~120 us, most of it in
picking, escaping and formatting label values; a new report of the same agent nearly always
changes only the numbers (its timestamp, counts, timings). The per-agent families take their
labels from the pod, the node, the legacy `agent` label and the record's probe URLs and timed
phases only (agent_families.py); when those are what the cached lines were written from, each
cached line keeps its text up to its last space (the value follows it, and holds none) and takes
the new value. Nothing is kept beside the lines: the old verdict they were written from says
their labels. tests/test_agent_renumber.py holds the result equal to a fresh render.
"""

from __future__ import annotations

from collections.abc import Iterable

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.metrics.agent_families import AGENT_FAMILIES, LEGACY_FAMILIES
from netchecker_exporter.metrics.agent_lines import AgentLines, number
from netchecker_exporter.metrics.families import LegacyRow, Sample

LabelShape = tuple[object, ...]


def label_shape(verdict: AgentVerdict) -> LabelShape:
    """Everything the per-agent families' labels and line counts are read from.

    A family reading a label from anything else must add it here (the test of this module
    varies each of these and fails when a family's labels move without the shape).
    """
    record = verdict.record
    probes = (
        ()
        if record is None
        else tuple(
            (probe.url, tuple(phase for phase, ms in dict(probe.phase_ms).items() if ms is not None))
            for probe in record.report.network_probes
        )
    )
    return (verdict.pod, verdict.node, verdict.legacy_agent_label, record is None, probes)


def renumbered(previous: AgentLines, verdict: AgentVerdict, *, legacy_metrics: bool) -> AgentLines | None:
    """`previous` with `verdict`'s values, or None when `verdict`'s labels differ (write it anew).

    Raises where render_agent would: a value that cannot be read or written.
    """
    if label_shape(previous.verdict) != label_shape(verdict):
        return None
    has_legacy = legacy_metrics and verdict.record is not None
    if has_legacy != bool(previous.legacy):
        return None
    row = LegacyRow(verdict.legacy_agent_label, verdict)
    agent = tuple(
        _renumber(old, family.samples(verdict))
        for old, family in zip(previous.agent, AGENT_FAMILIES, strict=True)
    )
    legacy = (
        tuple(
            _renumber(old, family.samples(row))
            for old, family in zip(previous.legacy, LEGACY_FAMILIES, strict=True)
        )
        if has_legacy
        else ()
    )
    return AgentLines(verdict, agent, legacy)


def _renumber(old: bytes, samples: Iterable[Sample]) -> bytes:
    """One family's cached lines with the values of `samples`, in order."""
    if not old:
        values = list(samples)
        if values:
            raise ValueError("a family with no cached line now has samples: its labels moved")
        return old
    lines = old.decode().split("\n")
    text = []
    for line, (_labels, value) in zip(lines[:-1], samples, strict=True):
        text.append(f"{line[: line.rindex(' ')]} {number(value)}\n")
    return "".join(text).encode()
