"""The reconciler's full pass keeps the history: published with the Snapshot, merged with the
stored one once the store has read it, and handed to the store only from then on."""

from __future__ import annotations

from collections.abc import Mapping

from netchecker_exporter.diagnosis.checks import NodeVerdict
from netchecker_exporter.diagnosis.history import NODE, NodeHistory, Transition
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.store.memory import MemoryStore
from tests.support.clock import FakeClock
from tests.support.reports import agent_report


class SlowHistoryStore:
    """A HistoryStore whose stored history is read when the test says so; it keeps what it is given."""

    def __init__(self, stored: Mapping[str, NodeHistory]) -> None:
        self.stored = dict(stored)
        self.read = False
        self.saved: list[dict[str, NodeHistory]] = []

    def restored(self) -> Mapping[str, NodeHistory] | None:
        return self.stored if self.read else None

    def save(self, changed: Mapping[str, NodeHistory]) -> None:
        self.saved.append(dict(changed))

    def close(self) -> None:
        """Nothing to release."""


def test_changes_are_kept_in_memory_until_the_stored_history_is_read_then_merged_and_written() -> None:
    clock = FakeClock()
    store = MemoryStore(report_ttl_seconds=3600, clock=clock)
    before = clock() - 3600
    earlier = (Transition(before, NODE, "healthy", "dns_failing", "old"),
               Transition(before + 60, NODE, "dns_failing", "healthy", "old"))  # fmt: skip
    history_store = SlowHistoryStore({"node-1": NodeHistory("healthy", (), earlier, (), 7, before - 60)})
    reconciler = Reconciler(store=store, pods=ReportedPodSource(), check_interval_seconds=10, clock=clock,
                            diagnosis=DiagnosisSettings(), history_store=history_store)  # fmt: skip
    store.put_report(agent_report("netchecker-agent-hostnet-a", interval=2), clock())
    reconciler.reconcile_once()
    clock.advance(10)  # silent for 5 intervals: outdated, the node unreachable
    reconciler.reconcile_once()
    assert [t.after for t in reconciler.snapshot.history.nodes["node-1"].verdict_changes] == [
        "node_unreachable"
    ]
    assert history_store.saved == []  # never written over a history not read yet
    history_store.read = True
    store.put_report(agent_report("netchecker-agent-hostnet-a", interval=2), clock())
    snapshot = reconciler.reconcile_once()
    node = snapshot.history.nodes["node-1"]
    assert [t.after for t in node.verdict_changes] == [
        "dns_failing",
        "healthy",
        "node_unreachable",
        "clock_skew",
    ]
    assert node.changes_total == 9 and node.since == before - 60
    assert history_store.saved == [{"node-1": node}]
    reconciler.refresh_reported()  # a refresh (no node verdicts) neither moves nor writes the history
    assert reconciler.snapshot.history is snapshot.history and len(history_store.saved) == 1
    assert snapshot.diagnosis.nodes[0].verdict is NodeVerdict.CLOCK_SKEW
