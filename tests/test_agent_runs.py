"""The agents' lines kept as compressed runs: a run round-trips, runs concatenate into one gzip
member, a new Snapshot compresses again only the runs it changed, and a reader holds one run."""

from __future__ import annotations

import dataclasses
import gzip
import random
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.metrics.agent_runs import AgentRun, AgentRuns
from netchecker_exporter.metrics.deflate_run import DeflateRun, deflate_run, inflated, pieces
from netchecker_exporter.metrics.exposition import AgentCache, RenderedSnapshot
from netchecker_exporter.metrics.gzip_body import gzip_body, runs_prefix
from netchecker_exporter.metrics.segment_file import SegmentFile
from netchecker_exporter.snapshot import Snapshot
from tests.support.oracle import SnapshotCollector
from tests.support.reports import NOW, varied_snapshot

RUN_AGENTS = 8
"""Small runs, so the 60 agents of varied_snapshot fill several."""


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_a_run_inflates_to_its_pieces_with_their_crc_and_length(parts: list[bytes]) -> None:
    run = deflate_run(parts)
    text = b"".join(parts)
    assert pieces(run) == parts
    assert inflated(run) == text
    assert (run.crc, run.length, run.count) == (zlib.crc32(text), len(text), len(parts))


def test_runs_and_a_tail_are_one_gzip_member_of_their_texts() -> None:
    texts = [b"# HELP a\n", b"a 1.0\n" * 5_000, b"", bytes(range(256)) * 40]
    body = gzip_body(runs_prefix(deflate_run([text[:7], text[7:]]) for text in texts), b"tail\n")
    assert gzip.decompress(body) == b"".join(texts) + b"tail\n"


def client_text(snapshot: Snapshot, *, legacy_metrics: bool = True) -> bytes:
    """prometheus_client's own rendering of `snapshot` (the oracle)."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="1", legacy_metrics=legacy_metrics))
    return generate_latest(registry)


def written(cache: AgentCache, snapshot: Snapshot, *, legacy_metrics: bool = True) -> RenderedSnapshot:
    runs, unrenderable = cache.update(snapshot.verdicts)
    return RenderedSnapshot(snapshot, runs, unrenderable, legacy_metrics=legacy_metrics)


def text_of(rendered: RenderedSnapshot) -> bytes:
    return b"".join(rendered.chunks("1", open_metrics=False))


def every_run(runs: AgentRuns) -> list[AgentRun]:
    return [*runs.agent, *runs.legacy]


def test_a_gzip_body_of_the_runs_decompresses_to_the_plain_body(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    snapshot = varied_snapshot(hostnet_report, podnet_report)
    rendered = written(AgentCache(legacy_metrics=True, run_agents=RUN_AGENTS), snapshot)
    assert len(rendered.runs.agent) > 1 and len(rendered.runs.legacy) > 1
    segments, size = rendered.segments("1", open_metrics=False)
    prefix = runs_prefix(s if isinstance(s, DeflateRun) else deflate_run([s]) for s in segments)
    tail = b"# the registry's tail\n"
    assert (
        gzip.decompress(gzip_body(prefix, tail)) == text_of(rendered) + tail == client_text(snapshot) + tail
    )
    assert size == prefix.length == len(text_of(rendered))


def reported_again(verdict: AgentVerdict) -> AgentVerdict:
    assert verdict.record is not None
    record = dataclasses.replace(
        verdict.record,
        last_updated=verdict.record.last_updated + 5,
        report_count=verdict.record.report_count + 1,
    )
    return dataclasses.replace(verdict, record=record)


def test_only_the_runs_holding_a_changed_agent_are_compressed_again(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    snapshot = varied_snapshot(hostnet_report, podnet_report)
    cache = AgentCache(legacy_metrics=True, run_agents=RUN_AGENTS)
    first = written(cache, snapshot)
    assert first.runs.rebuilt == len(every_run(first.runs))
    verdicts = list(snapshot.verdicts)
    index = next(i for i, v in enumerate(verdicts) if v.record is not None and i > RUN_AGENTS)
    verdicts[index] = reported_again(verdicts[index])
    second_snapshot = dataclasses.replace(snapshot, verdicts=tuple(verdicts))
    second = written(cache, second_snapshot)
    assert second.runs.rebuilt == 2  # its agent run and its legacy run (it is the newest of its label)
    kept = {id(run) for run in every_run(first.runs)} & {id(run) for run in every_run(second.runs)}
    assert len(kept) == len(every_run(second.runs)) - 2
    assert text_of(second) == client_text(second_snapshot)
    third = written(cache, dataclasses.replace(second_snapshot, verdicts=tuple(verdicts)))
    assert third.runs.rebuilt == 0
    assert all(map(lambda a, b: a is b, every_run(third.runs), every_run(second.runs)))


Change = Callable[[list[AgentVerdict]], list[AgentVerdict]]


def _newest_of_a_shared_label_departs(verdicts: list[AgentVerdict]) -> list[AgentVerdict]:
    """Two pods share a legacy label: the one shown goes, and the other shows its unchanged lines."""
    by_label: dict[str, list[AgentVerdict]] = {}
    for verdict in verdicts:
        if verdict.record is not None:
            by_label.setdefault(verdict.legacy_agent_label, []).append(verdict)
    shared = next(group for group in by_label.values() if len(group) > 1)
    newest = max(shared, key=lambda v: v.record.last_updated if v.record is not None else 0.0)
    return [v for v in verdicts if v is not newest]


def _renamed(verdict: AgentVerdict, name: str) -> AgentVerdict:
    return dataclasses.replace(verdict, pod=dataclasses.replace(verdict.pod, name=name))


def _one_more_at_the_end(verdicts: list[AgentVerdict]) -> list[AgentVerdict]:
    return [*verdicts, _renamed(verdicts[-1], verdicts[-1].pod.name + "+")]


CHANGES: list[Change] = [
    _one_more_at_the_end,
    _one_more_at_the_end,
    lambda vs: [reported_again(v) if v.record is not None and i % 3 == 0 else v for i, v in enumerate(vs)],
    lambda vs: vs[1:],  # the first departs: every run would shift by one
    lambda vs: [*vs, *(_renamed(v, v.pod.name + "-n") for v in vs[:3])],
    lambda vs: vs[:20] + vs[25:],  # a run's worth from the middle
    lambda vs: vs[30:] + vs[:30],  # moved
    _newest_of_a_shared_label_departs,
    lambda vs: [*vs[:4], dataclasses.replace(vs[4], pod=dataclasses.replace(vs[4].pod, node="far")), *vs[5:]],
    lambda vs: random.Random(7).sample(vs, len(vs)),
    lambda vs: vs[:1],
    lambda vs: [],
]  # fmt: skip


def test_runs_follow_agents_that_report_come_go_and_move(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    for legacy_metrics in (True, False):
        snapshot = varied_snapshot(hostnet_report, podnet_report)
        cache = AgentCache(legacy_metrics=legacy_metrics, run_agents=RUN_AGENTS)
        for change in (lambda vs: vs, *CHANGES):
            snapshot = dataclasses.replace(snapshot, verdicts=tuple(change(list(snapshot.verdicts))))
            rendered = written(cache, snapshot, legacy_metrics=legacy_metrics)
            assert text_of(rendered) == client_text(snapshot, legacy_metrics=legacy_metrics)
            for runs in (rendered.runs.agent, rendered.runs.legacy):
                assert (
                    len(runs) <= 1 or min(run.count for run in runs) >= RUN_AGENTS // 4
                )  # no trail of tiny runs
            assert bool(rendered.runs.legacy) is (legacy_metrics and any(v.record for v in snapshot.verdicts))
            for index, runs in (
                (cache._agents, rendered.runs.agent),
                (cache._legacy_rows, rendered.runs.legacy),
            ):
                assert index == {key: (run, place) for run in runs for place, key in enumerate(run.keys)}


def _one_per_legacy_label(verdicts: list[AgentVerdict]) -> list[AgentVerdict]:
    labels: set[str] = set()
    kept = []
    for verdict in verdicts:
        if verdict.record is None or verdict.legacy_agent_label not in labels:
            labels.add(verdict.legacy_agent_label)
            kept.append(verdict)
    return kept


def _on_the_node_of_the_next(verdicts: list[AgentVerdict]) -> list[AgentVerdict]:
    """An agent moves to the node of the next one with a record on its network: a label is shared."""
    first = next(v for v in verdicts if v.record is not None)
    other = next(
        v for v in verdicts if v is not first and v.record is not None and v.pod.network is first.pod.network
    )
    moved = dataclasses.replace(first, pod=dataclasses.replace(first.pod, node=other.node))
    return [moved if v is first else v for v in verdicts]


UNIQUE_LABEL_CHANGES: list[Change] = [
    lambda vs: [reported_again(v) if v.record is not None and i % 2 else v for i, v in enumerate(vs)],
    lambda vs: [reported_again(v) if v.record is not None and i % 3 else v for i, v in enumerate(vs)],
    lambda vs: [dataclasses.replace(v, record=None) if i == 3 else v for i, v in enumerate(vs)],
    _on_the_node_of_the_next,
    lambda vs: [reported_again(v) if v.record is not None else v for v in vs],
]


def test_the_legacy_order_of_unshared_labels_follows_reports_and_moves(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    """With no legacy label shared, a write where agents only reported keeps the legacy order."""
    snapshot = varied_snapshot(hostnet_report, podnet_report)
    snapshot = dataclasses.replace(snapshot, verdicts=tuple(_one_per_legacy_label(list(snapshot.verdicts))))
    cache = AgentCache(legacy_metrics=True, run_agents=4)
    for change in (lambda vs: vs, *UNIQUE_LABEL_CHANGES):
        snapshot = dataclasses.replace(snapshot, verdicts=tuple(change(list(snapshot.verdicts))))
        assert text_of(written(cache, snapshot)) == client_text(snapshot)


def test_fifty_slow_readers_hold_one_inflated_run_each() -> None:
    rows = random.Random(1)

    def line() -> bytes:
        return f'family_x{{pod="p{rows.randrange(10**6)}"}} {rows.random()}\n'.encode()

    runs = [deflate_run([line() for _ in range(4000)]) for _ in range(8)]
    run_text, body_text = max(run.length for run in runs), sum(run.length for run in runs)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        readers = [SegmentFile([b"# HELP\n", *runs]) for _ in range(50)]
        for reader in readers:
            assert reader.read(100)  # into the first run
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 50 * run_text * 1.2
    assert held < 50 * body_text / 4  # a joined body per reader would be all of it
    assert b"".join(reader.read() for reader in readers[:1]).endswith(inflated(runs[-1]))


def test_a_young_agent_without_a_report_has_no_legacy_lines_but_keeps_its_place(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    snapshot = varied_snapshot(hostnet_report, podnet_report)
    cache = AgentCache(legacy_metrics=True, run_agents=RUN_AGENTS)
    written(cache, snapshot)
    verdicts = [
        dataclasses.replace(v, record=None, missed_keepalives=0) if i == 2 else v
        for i, v in enumerate(snapshot.verdicts)
    ]
    later = dataclasses.replace(snapshot, verdicts=tuple(verdicts), last_success_timestamp=NOW + 1)
    assert text_of(written(cache, later)) == client_text(later)
