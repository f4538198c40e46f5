"""The diagnosis history in a real etcd: restored after a restart, written by one replica only,
taken over when the writer goes or loses its lease, and a stored value that is not ours skipped."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.diagnosis.history import NODE, HistoryLimits, NodeHistory, Transition
from netchecker_exporter.settings import EtcdSettings
from netchecker_exporter.store.etcd import EtcdStore
from netchecker_exporter.store.etcd_history import EtcdHistory
from tests.support.etcd import EtcdProcess
from tests.support.polling import wait_until

pytestmark = [pytest.mark.etcd]

LIMITS = HistoryLimits()
FLUSH_SECONDS = 0.1
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def etcd(shared_etcd: EtcdProcess) -> EtcdProcess:
    """The module's one etcd (conftest's shared_etcd), by the name these tests use."""
    return shared_etcd


HistoryFactory = Callable[..., EtcdHistory]


@pytest.fixture
def replica(etcd: EtcdProcess, request: pytest.FixtureRequest) -> Iterator[HistoryFactory]:
    """A replica's history store on its own EtcdStore, under this test's tree; all closed at the end."""
    made: list[tuple[EtcdHistory, EtcdStore]] = []
    tree = f"history-{request.node.name}"[:60].replace("[", "-").replace("]", "")

    def make(name: str, lease_seconds: int = 30) -> EtcdHistory:
        settings = EtcdSettings((etcd.url,), tree, None, None, None, 2.0)
        store = EtcdStore(settings, report_ttl_seconds=300, registry=CollectorRegistry())
        history = store.history(LIMITS, replica_id=name, flush_interval_seconds=FLUSH_SECONDS,
                                lease_seconds=lease_seconds)  # fmt: skip
        made.append((history, store))
        return history

    make.tree = tree  # type: ignore[attr-defined]
    yield make
    for history, store in made:
        history.close()
        store.close()


def node_history(changes: int, at: float = NOW) -> NodeHistory:
    moves = [("healthy", "node_unreachable"), ("node_unreachable", "healthy")]
    verdicts = tuple(Transition(at + i, NODE, *moves[i % 2], f"change {i}") for i in range(changes))
    agents = (Transition(at, "netchecker-agent-x", "fresh", "outdated", "silent: last report 25 s ago"),)
    return NodeHistory(verdicts[-1].after if verdicts else "healthy", (("netchecker-agent-x", "fresh"),),
                       verdicts, agents, changes, at - 60)  # fmt: skip


def stored(etcd: EtcdProcess, tree: str) -> dict[str, dict[str, object]]:
    listing = json.loads(etcd.etcdctl("get", f"/{tree}/history/", "--prefix", "--write-out=json"))
    return {
        base64.b64decode(kv["key"]).decode().rsplit("/", 1)[1]: json.loads(base64.b64decode(kv["value"]))
        for kv in listing.get("kvs", [])
    }


def test_what_one_process_wrote_the_next_one_restores(replica: HistoryFactory) -> None:
    first = replica("a")
    wait_until(lambda: first.restored() is not None, 10, "the (empty) history read")
    assert first.restored() == {}
    first.save({"node-1": node_history(3), "node-2": node_history(1)})
    wait_until(lambda: first.is_writer and not first.unwritten, 10, "the history written")
    first.close()
    second = replica("b")
    restored = wait_until(second.restored, 10, "the history restored")
    assert restored == {"node-1": node_history(3), "node-2": node_history(1)}


def test_replicas_on_one_etcd_store_each_change_once_written_by_the_lease_holder(
    replica: HistoryFactory, etcd: EtcdProcess
) -> None:
    a, b = replica("a"), replica("b")
    wait_until(lambda: a.is_writer or b.is_writer, 10, "a writer")
    writer, other = (a, b) if a.is_writer else (b, a)
    writer.save({"node-1": node_history(2)})
    other.save({"node-1": node_history(5), "node-9": node_history(4)})  # its own view: not written
    wait_until(lambda: "node-1" in stored(etcd, replica.tree), 10, "the writer's put")  # type: ignore[attr-defined]
    wait_until(lambda: not other.unwritten, 10, "the other replica's flush")
    values = stored(etcd, replica.tree)  # type: ignore[attr-defined]
    assert set(values) == {"node-1"} and values["node-1"]["changes_total"] == 2
    assert not other.is_writer
    writer.close()  # revokes its lease: the other takes over and writes what changes next
    wait_until(lambda: other.is_writer, 10, "the other replica taking over")
    other.save({"node-9": node_history(4)})
    wait_until(lambda: "node-9" in stored(etcd, replica.tree), 10, "the new writer's put")  # type: ignore[attr-defined]


def test_a_replica_that_does_not_hold_the_writer_key_writes_nothing_and_claims_it_once_free(
    replica: HistoryFactory, etcd: EtcdProcess
) -> None:
    tree = replica.tree  # type: ignore[attr-defined]
    a = replica("a")
    wait_until(lambda: a.is_writer, 10, "a writing")
    holder = json.loads(etcd.etcdctl("get", f"/{tree}/history-writer", "--write-out=json"))["kvs"][0]
    etcd.etcdctl("lease", "revoke", format(holder["lease"], "x"))  # a partitioned away past its TTL ...
    etcd.etcdctl("put", f"/{tree}/history-writer", "another-replica")  # ... and another one took over
    a.save({"node-a": node_history(2)})
    wait_until(lambda: not a.unwritten and not a.is_writer, 10, "a's flush refused")
    assert "node-a" not in stored(etcd, tree)
    etcd.etcdctl("del", f"/{tree}/history-writer")  # the other replica is gone: a claims the key
    a.save({"node-a": node_history(2)})
    wait_until(lambda: "node-a" in stored(etcd, tree), 10, "a writing again")
    assert a.is_writer


def test_a_stored_value_that_is_not_a_history_is_skipped_and_the_rest_restored(
    replica: HistoryFactory, etcd: EtcdProcess, tmp_path: Path
) -> None:
    tree = replica.tree  # type: ignore[attr-defined]
    first = replica("a")
    first.save({"good": node_history(2)})
    wait_until(lambda: "good" in stored(etcd, tree), 10, "the history written")
    first.close()
    etcd.etcdctl("put", f"/{tree}/history/bad", '{"version": 1, "verdict": "on_fire"}')
    etcd.etcdctl("put", f"/{tree}/history/worse", "not json")
    restored = wait_until(replica("b").restored, 10, "the history restored")
    assert set(restored) == {"good"}


def test_closing_with_etcd_down_gives_up_within_seconds(replica: HistoryFactory, etcd: EtcdProcess) -> None:
    history = replica("a")
    wait_until(lambda: history.is_writer, 10, "a writing")
    etcd.pause()
    try:
        history.save({"node-1": node_history(2)})
        started = time.monotonic()
        history.close()
        assert time.monotonic() - started < 6.0  # 2 x CLOSE_SECONDS, and room for a loaded machine
    finally:
        etcd.resume()
