"""The per-agent families written line by line, one agent at a time, as prometheus_client writes them.

prometheus_client builds a dict and a namedtuple per sample, which took seconds per scrape at
10,000 agents; here an agent's lines are written once and kept until its verdict changes
(exposition.py). tests/test_exposition.py holds the bytes identical to prometheus_client's.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.utils import floatToGoString

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.metrics.agent_families import AGENT_FAMILIES, LEGACY_FAMILIES
from netchecker_exporter.metrics.families import Family, LegacyRow, Sample


def escape(value: str) -> str:
    """A label value escaped as the text format wants (most need nothing: checked first, in C)."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def go_float(value: float) -> str:
    """A sample value as Go (and prometheus_client) prints it."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def number(value: float) -> str:
    """go_float, quicker: below a million in magnitude it is Python's repr (Go's exponent starts there)."""
    return repr(value) if -1e6 < value < 1e6 else go_float(value)


@functools.cache
def _layout(family: Family[Any]) -> tuple[str, Callable[[tuple[str, ...]], tuple[str, ...]]]:
    """A line template with the labels in prometheus_client's order (sorted by name), and a picker
    that puts a sample's label values in that order."""
    suffix = "_total" if family.kind == "counter" else ""
    order = sorted(range(len(family.labels)), key=lambda i: family.labels[i])
    labels = ",".join(f'{family.labels[i]}="{{}}"' for i in order)
    picker = operator.itemgetter(*order)
    pick = picker if len(order) > 1 else lambda values: (picker(values),)
    return f"{family.name}{suffix}{{{{{labels}}}}} {{}}\n", pick


def family_lines(family: Family[Any], samples: Iterable[Sample], escaped: dict[str, str]) -> str:
    """The sample lines of one family (labelled families only: every per-agent and diagnosis family is).

    `escaped` memoizes escape() across one agent's families: its pod, node and URLs repeat in
    every line, and escaping each occurrence was a third of the time to write an agent.
    """
    template, pick = _layout(family)
    lines = []
    for labels, value in samples:
        values = []
        for raw in pick(labels):
            text = escaped.get(raw)
            if text is None:
                text = escaped[raw] = escape(raw)
            values.append(text)
        lines.append(template.format(*values, number(value)))
    return "".join(lines)


@dataclass(frozen=True, slots=True)
class AgentLines:
    """One agent's lines per family, and the verdict they were written from (to tell when they are stale)."""

    verdict: AgentVerdict
    agent: tuple[bytes, ...]
    legacy: tuple[bytes, ...]


def same_output(written: AgentVerdict, verdict: AgentVerdict) -> bool:
    """Would `verdict` write the lines `written` wrote? The age is not shown; records compare by identity."""
    return (
        written.record is verdict.record
        and written.status is verdict.status
        and written.missed_keepalives == verdict.missed_keepalives
        and written.pod == verdict.pod
    )


def render_agent(verdict: AgentVerdict, *, legacy_metrics: bool) -> AgentLines:
    """Write one agent's lines; raises when any sample cannot be read or written.

    A label that is not text fails in escape() (client_families.checked_samples refuses it up front), so
    both writers leave out the same agents.
    """
    row = LegacyRow(verdict.legacy_agent_label, verdict)
    legacy = legacy_metrics and verdict.record is not None
    escaped: dict[str, str] = {}
    return AgentLines(
        verdict,
        tuple(family_lines(family, family.samples(verdict), escaped).encode() for family in AGENT_FAMILIES),
        tuple(family_lines(family, family.samples(row), escaped).encode() for family in LEGACY_FAMILIES)
        if legacy
        else (),
    )
