"""The diagnosis families on /metrics: written as prometheus_client writes them, once per diagnosis.

A refresh's Snapshot keeps the last pass's diagnosis and history (reconcile.py); its scrapes reuse
their lines, and a gzip scrape compresses again only the pieces that changed (gzip_body.PieceRuns).
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.check import AgentStatus
from netchecker_exporter.diagnosis.history import History, NodeHistory
from netchecker_exporter.diagnosis.nodes import NodeVerdict, TargetVerdict, diagnose
from netchecker_exporter.metrics import exposition
from netchecker_exporter.metrics.diagnosis_metrics import diagnosis_families
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from tests.support.oracle import oracle_body, render_snapshot
from tests.support.reports import NOW, varied_snapshot

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
AWKWARD = ('q"uote-', "back\\slash-", "new\nline-", "ü-", "")
SKEWS = (None, -0.25, 3.0, 999_999.5, 1e6, 1_234_567.891, float("nan"), float("inf"), -1e-7)


def diagnosed(snapshot: Snapshot) -> Snapshot:
    """`snapshot` with a diagnosis that shows in every family: each node verdict, awkward node names
    and URLs, skews and boot times of every width, reboots, and a history of verdict changes."""
    diagnosis = diagnose(snapshot.verdicts, NOW, DiagnosisSettings())
    verdicts = list(NodeVerdict)
    nodes = tuple(
        dataclasses.replace(
            node,
            node=AWKWARD[i % len(AWKWARD)] + node.node,
            verdict=verdicts[i % len(verdicts)],
            clock_skew_seconds=SKEWS[i % len(SKEWS)],
            reboots=i % 3,
            last_boot_timestamp=None if i % 2 else NOW - 1000.5 * i,
        )
        for i, node in enumerate(diagnosis.nodes)
    )
    targets = tuple(
        dataclasses.replace(
            target,
            url=target.url + AWKWARD[i % len(AWKWARD)],
            verdict=list(TargetVerdict)[i % len(TargetVerdict)],
            nodes_probing=1000 * i,
            failing_nodes=("a",) * i,
        )
        for i, target in enumerate(diagnosis.targets)
    )
    history = History(
        MappingProxyType(
            {node.node: NodeHistory(node.verdict.value, (), changes_total=i) for i, node in enumerate(nodes)}
        ),
        0,
    )
    assert len(nodes) > len(verdicts) and targets
    return dataclasses.replace(
        snapshot, diagnosis=dataclasses.replace(diagnosis, nodes=nodes, targets=targets), history=history
    )


@pytest.mark.parametrize("open_metrics", [False, True], ids=["text", "openmetrics"])
def test_the_diagnosis_lines_match_prometheus_client(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], open_metrics: bool
) -> None:
    snapshot = diagnosed(varied_snapshot(hostnet_report, podnet_report))
    fast = render_snapshot(snapshot, "1.2.3", open_metrics=open_metrics)
    assert (
        fast.decode().splitlines()
        == oracle_body(snapshot, "1.2.3", open_metrics=open_metrics).decode().splitlines()
    )
    assert fast == oracle_body(snapshot, "1.2.3", open_metrics=open_metrics)
    families = {family.name: family for family in diagnosis_families(snapshot.diagnosis, snapshot.history)}
    assert all(families[name].samples for name in families), "a family without samples tests nothing"


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the exposition writes diagnosis lines (one entry per write)."""
    writes: list[int] = []
    write: Callable[..., tuple[bytes, ...]] = exposition.diagnosis_lines

    def counted(*args: Any) -> tuple[bytes, ...]:
        writes.append(1)
        return write(*args)

    monkeypatch.setattr(exposition, "diagnosis_lines", counted)
    return writes


def scraped(metrics: MetricsExposition, accept: str, accept_encoding: str) -> bytes:
    body, _headers = metrics.render(accept, accept_encoding)
    data = body.read()
    return gzip.decompress(data) if accept_encoding else data


def test_a_snapshot_with_the_last_diagnosis_writes_and_compresses_none_of_it_again(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = counting(monkeypatch)
    first = diagnosed(varied_snapshot(hostnet_report, podnet_report))
    current = [first]
    metrics = MetricsExposition(lambda: current[0], CollectorRegistry(), version="1.2.3")
    for accept in ("", OPENMETRICS):
        assert scraped(metrics, accept, "gzip") == scraped(metrics, accept, "")
    assert len(writes) == 1, "the diagnosis lines are written once for both formats"
    pieces = metrics._pieces[True]
    compressed = pieces.compressed

    outdated = dataclasses.replace(first.verdicts[1], status=AgentStatus.OUTDATED, missed_keepalives=7)
    refreshed = dataclasses.replace(first, verdicts=(first.verdicts[0], outdated, *first.verdicts[2:]))
    current[0] = refreshed  # as a refresh leaves it: new verdicts, the same diagnosis and history
    body = scraped(metrics, OPENMETRICS, "gzip")
    assert body == oracle_body(refreshed, "1.2.3", open_metrics=True) + b"# EOF\n"
    assert len(writes) == 1
    assert pieces.compressed - compressed == 2, "only the server families (cluster, then health) changed"

    current[0] = dataclasses.replace(
        refreshed, diagnosis=diagnose(refreshed.verdicts, NOW, DiagnosisSettings())
    )
    body = scraped(metrics, OPENMETRICS, "gzip")
    assert body == oracle_body(current[0], "1.2.3", open_metrics=True) + b"# EOF\n"
    assert len(writes) == 2, "a new diagnosis is written anew"
