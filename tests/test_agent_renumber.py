"""An agent's lines given new numbers are the lines a fresh render writes, or refused when labels moved."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.metrics.agent_lines import AgentLines, render_agent
from netchecker_exporter.metrics.agent_renumber import renumbered
from netchecker_exporter.report import AgentRecord, NetworkProbe
from tests.support.reports import varied_snapshot

Change = Callable[[AgentVerdict], AgentVerdict]


def _record(change: Callable[[AgentRecord], AgentRecord]) -> Change:
    def changed(verdict: AgentVerdict) -> AgentVerdict:
        assert verdict.record is not None
        return dataclasses.replace(verdict, record=change(verdict.record))

    return changed


def _probes(change: Callable[[NetworkProbe], NetworkProbe]) -> Change:
    return _record(
        lambda record: dataclasses.replace(
            record,
            report=dataclasses.replace(
                record.report, network_probes=tuple(change(p) for p in record.report.network_probes)
            ),
        )
    )


def _phases(change: Callable[[str, int | None], int | None]) -> Change:
    return _probes(
        lambda probe: dataclasses.replace(probe, phase_ms=tuple((k, change(k, v)) for k, v in probe.phase_ms))
    )


NUMBERS_ONLY: dict[str, Change] = {
    "a new report": _record(
        lambda r: dataclasses.replace(r, last_updated=r.last_updated + 7.25, report_count=r.report_count + 1)
    ),
    "a huge count": _record(lambda r: dataclasses.replace(r, report_count=10**15 + 3)),
    "missed keepalives": lambda v: dataclasses.replace(v, missed_keepalives=v.missed_keepalives + 2),
    "outdated": lambda v: dataclasses.replace(v, status=AgentStatus.OUTDATED),
    "report interval": _record(
        lambda r: dataclasses.replace(r, report=dataclasses.replace(r.report, report_interval=17))
    ),
    "probe outcome": _probes(lambda p: dataclasses.replace(p, connection_result=0, http_code=503)),
    "phase times": _phases(lambda _k, v: None if v is None else v * 3 + 1),
}
LABELS_MOVE: dict[str, Change] = {
    "url": _probes(lambda p: dataclasses.replace(p, url=p.url + "/other")),
    "a phase untimed": _phases(lambda k, v: None if k == "dns_lookup" else v),
    "a phase timed": _phases(lambda _k, v: 5 if v is None else v),
    "a probe less": _record(
        lambda r: dataclasses.replace(
            r, report=dataclasses.replace(r.report, network_probes=r.report.network_probes[1:])
        )
    ),
    "pod name": lambda v: dataclasses.replace(v, pod=dataclasses.replace(v.pod, name=v.pod.name + "-x")),
    "namespace": lambda v: dataclasses.replace(v, pod=dataclasses.replace(v.pod, namespace="other")),
    "node": lambda v: dataclasses.replace(v, pod=dataclasses.replace(v.pod, node="node-elsewhere")),
    "reported node": _record(
        lambda r: dataclasses.replace(r, report=dataclasses.replace(r.report, nodename="reported-elsewhere"))
    ),
    "no record": lambda v: dataclasses.replace(v, record=None, status=AgentStatus.ABSENT),
}


def _reported(hostnet: dict[str, Any], podnet: dict[str, Any]) -> list[AgentVerdict]:
    return [v for v in varied_snapshot(hostnet, podnet).verdicts if v.record is not None]


@pytest.mark.parametrize("legacy_metrics", [True, False])
@pytest.mark.parametrize("change", NUMBERS_ONLY.values(), ids=NUMBERS_ONLY.keys())
def test_new_numbers_under_the_same_labels_are_what_a_fresh_render_writes(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], change: Change, legacy_metrics: bool
) -> None:
    for verdict in _reported(hostnet_report, podnet_report):
        previous = render_agent(verdict, legacy_metrics=legacy_metrics)
        new = change(verdict)
        again = renumbered(previous, new, legacy_metrics=legacy_metrics)
        assert again is not None
        assert again == render_agent(new, legacy_metrics=legacy_metrics)
        assert again.verdict is new


def _labels(lines: AgentLines) -> list[list[str]]:
    """Each cached line up to its value: what a renumbered agent keeps."""
    return [
        [line.rpartition(" ")[0] for line in family.decode().splitlines()]
        for family in lines.agent + lines.legacy
    ]


@pytest.mark.parametrize("change", LABELS_MOVE.values(), ids=LABELS_MOVE.keys())
def test_moved_labels_are_refused_so_the_agent_is_written_whole(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], change: Change
) -> None:
    moved = 0
    for verdict in _reported(hostnet_report, podnet_report):
        previous, new = render_agent(verdict, legacy_metrics=True), change(verdict)
        fresh = render_agent(new, legacy_metrics=True)
        again = renumbered(previous, new, legacy_metrics=True)
        if _labels(fresh) != _labels(previous):
            assert again is None
            moved += 1
        else:
            assert again is None or again == fresh
    assert moved  # the change moved some agent's labels


def test_a_value_that_cannot_render_raises_as_a_fresh_render_does(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    verdict = _reported(hostnet_report, podnet_report)[0]
    broken = _record(lambda r: dataclasses.replace(r, report_count=10**400))(verdict)
    with pytest.raises(OverflowError):
        render_agent(broken, legacy_metrics=True)
    with pytest.raises(OverflowError):
        renumbered(render_agent(verdict, legacy_metrics=True), broken, legacy_metrics=True)
