"""EtcdStore against real etcd processes: round trip, TTL, restarts, replicas, group commit, TLS, faults."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.errors import ConfigError, StoreUnavailableError
from netchecker_exporter.report import AgentRecord, AgentReport, parse_report
from netchecker_exporter.settings import EtcdSettings
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.etcd import KEEPER_INTERVAL_SECONDS, EtcdStore
from netchecker_exporter.stored_fields import MAX_STORED_FIELD_BYTES_LIMIT
from tests.support.busy_node import busy_node_report
from tests.support.etcd import EtcdProcess, make_cluster, stop_all
from tests.support.load_threads import LoopThreads, longest_gap_seconds
from tests.support.polling import wait_until
from tests.support.reports import agent_report
from tests.support.tls import TlsFiles, make_tls_files

pytestmark = [pytest.mark.etcd]

PING_TIMEOUT_SECONDS = 1.5


def etcd_settings(
    *urls: str,
    tree: str = "netchecker",
    tls: TlsFiles | None = None,
    ca: Path | None = None,
    client_cert: bool = True,
) -> EtcdSettings:

    use_client_cert = tls is not None and client_cert
    return EtcdSettings(
        endpoints=urls,
        tree=tree,
        ca_file=str(ca or (tls.ca if tls else "")) or None,
        cert_file=str(tls.client_cert) if tls and use_client_cert else None,
        key_file=str(tls.client_key) if tls and use_client_cert else None,
        ping_timeout_seconds=PING_TIMEOUT_SECONDS,
    )


StoreFactory = Callable[..., EtcdStore]


@pytest.fixture
def make_store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """EtcdStore(settings, ttl) builder; every store it made is closed at the end."""
    stores: list[EtcdStore] = []

    def make(
        settings: EtcdSettings,
        report_ttl_seconds: int = 300,
        registry: CollectorRegistry | None = None,
        capacity: AgentCapacity | None = None,
    ) -> EtcdStore:
        registry = registry or CollectorRegistry()
        store = EtcdStore(
            settings, report_ttl_seconds=report_ttl_seconds, registry=registry, capacity=capacity
        )
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def tree(request: pytest.FixtureRequest) -> str:
    """A key tree of the test's own, so tests sharing one etcd never see each other's keys."""
    return f"t-{request.node.name.replace('[', '-').replace(']', '')}"


@pytest.fixture
def tree_store(shared_etcd: EtcdProcess, make_store: StoreFactory, tree: str) -> StoreFactory:
    """make_store on the shared etcd in the test's own tree: the same keywords, the settings given."""

    def make(**kwargs: Any) -> EtcdStore:
        return make_store(etcd_settings(shared_etcd.url, tree=tree), **kwargs)

    return make


def wait_healthy(store: EtcdStore, seconds: float = 10) -> None:
    wait_until(lambda: store.health().up, seconds, f"store health up (now {store.health()})")


def test_put_report_round_trips_through_etcd(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    store = tree_store()
    report = agent_report("netchecker-agent-abc12")
    record = store.put_report(report, 1_800_000_000.5)
    assert record == AgentRecord(report, 1_800_000_000.5, report_count=1, missed_keepalives=0)
    assert store.get_record("netchecker-agent-abc12") == record
    assert store.list_records() == {"netchecker-agent-abc12": record}
    stored = json.loads(
        shared_etcd.etcdctl("get", f"/{tree}/agents/netchecker-agent-abc12", "--print-value-only")
    )
    assert stored["podname"] == "netchecker-agent-abc12"
    assert stored["netchecker"]["report_count"] == 1
    wait_healthy(store)


def test_key_carries_a_lease_of_about_the_report_ttl(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    store = tree_store(report_ttl_seconds=300)
    store.put_report(agent_report("netchecker-agent-lease"), time.time())
    kv = json.loads(shared_etcd.etcdctl("get", f"/{tree}/agents/netchecker-agent-lease", "-w", "json"))
    lease = format(kv["kvs"][0]["lease"], "x")
    remaining = json.loads(shared_etcd.etcdctl("lease", "timetolive", lease, "-w", "json"))["ttl"]
    assert 300 - 2 <= remaining <= 300 + 15 + 1  # never shorter than the TTL, at most one bucket longer


def test_record_disappears_when_its_lease_expires(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    store = tree_store(report_ttl_seconds=3)
    written = time.monotonic()
    store.put_report(agent_report("netchecker-agent-short"), time.time())
    wait_until(lambda: store.get_record("netchecker-agent-short") is None, 15, "the record to expire")
    assert time.monotonic() - written >= 3 - 0.5
    assert "netchecker-agent-short" not in shared_etcd.etcdctl("get", "--prefix", f"/{tree}/", "--keys-only")


def test_totals_survive_a_new_store_instance(tree_store: StoreFactory) -> None:
    first = tree_store()
    report = agent_report("netchecker-agent-keep", interval=10)
    first.put_report(report, 1000.0)
    first.put_report(report, 1050.0)  # 50 s late: two missed 20 s windows
    first.close()
    second = tree_store()
    assert second.get_record(report.podname) == AgentRecord(report, 1050.0, 2, 2)
    assert second.put_report(report, 1060.0) == AgentRecord(report, 1060.0, 3, 2)


def test_two_stores_on_one_etcd_agree_and_carry_each_others_totals(tree_store: StoreFactory) -> None:
    one = tree_store()
    two = tree_store()
    report = agent_report("netchecker-agent-both")
    for turn in range(6):
        writer = (one, two)[turn % 2]
        # No waiting for the other's watch: the Txn compares revisions, so totals never fork.
        assert writer.put_report(report, 2000.0 + turn).report_count == turn + 1
    wait_until(lambda: one.list_records() == two.list_records(), 5, "both mirrors to agree")
    assert one.get_record(report.podname) == AgentRecord(report, 2005.0, 6, 0)


def test_the_watch_takes_our_own_writes_undecoded_and_still_sees_others_and_expiry(
    tree_store: StoreFactory, tree: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer applies each commit only once the watch has delivered it (the order that made
    the watch decode our own writes), so every one of our writes reaches the mirror by the watch:
    it must be our record itself, never decoded; another replica's write is decoded, and a lease
    expiry deletes."""
    mine = tree_store(report_ttl_seconds=3)
    other = tree_store()
    apply_committed = mine._mirror.apply_committed

    def after_the_watch(entries: dict[str, Any]) -> None:
        revision = max(entry.revision for entry in entries.values())
        wait_until(lambda: mine._mirror.watched_revision >= revision, 5, "the watch to deliver our write")
        apply_committed(entries)

    monkeypatch.setattr(mine._mirror, "apply_committed", after_the_watch)
    decoded: list[bytes] = []
    decode = mine._watch._decode  # the watch's decoding, which our own writes must skip

    def counting_decode(kv: Any) -> AgentRecord | None:
        decoded.append(kv.key)
        return decode(kv)

    monkeypatch.setattr(mine._watch, "_decode", counting_decode)
    for turn in range(3):
        ours = mine.put_report(agent_report("netchecker-agent-own"), 3000.0 + turn)
        assert ours.report_count == turn + 1
        assert mine.get_record("netchecker-agent-own") is ours  # the writer's object, from the watch
    assert decoded == []
    assert len(mine._own_writes) == 0
    theirs = other.put_report(agent_report("netchecker-agent-theirs"), 3100.0)
    wait_until(lambda: mine.get_record("netchecker-agent-theirs") == theirs, 5, "the other replica's write")
    assert decoded == [f"/{tree}/agents/netchecker-agent-theirs".encode()]
    wait_until(lambda: mine.get_record("netchecker-agent-own") is None, 15, "our record to expire")
    assert mine.get_record("netchecker-agent-theirs") == theirs


def test_a_stale_mirror_never_forks_the_totals(
    tree_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = CollectorRegistry()
    store = tree_store(registry=registry)
    report = agent_report("netchecker-agent-stale")
    store.put_report(report, 1.0)
    store.put_report(report, 2.0)
    monkeypatch.setattr(store._mirror, "entry", lambda name: None)  # as if the key were unknown
    txns = _txns(registry)
    assert store.put_report(report, 3.0).report_count == 3
    assert _txns(registry) == txns + 2  # the compare failed, the value read back was used


def _txns(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("netchecker_etcd_requests_total", {"rpc": "txn", "result": "ok"}) or 0


class _LostReplyError(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self) -> str:
        return "reply lost on the way back (test)"


def test_a_txn_whose_reply_was_lost_is_not_counted_twice(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tree_store()
    stubs = store._endpoints.current()
    lost: list[bool] = []

    def txn_losing_first_reply(request: Any, timeout: float, **call: Any) -> Any:
        reply = stubs.kv.Txn(request, timeout=timeout, **call)
        if not lost:
            lost.append(True)
            raise _LostReplyError
        return reply

    kv = SimpleNamespace(Txn=txn_losing_first_reply)
    monkeypatch.setattr(store._endpoints, "current", lambda: replace(stubs, kv=kv))
    report = agent_report("netchecker-agent-lost")
    assert store.put_report(report, 1.0).report_count == 1
    assert lost
    stored = json.loads(shared_etcd.etcdctl("get", f"/{tree}/agents/{report.podname}", "--print-value-only"))
    assert stored["netchecker"]["report_count"] == 1
    assert store.put_report(report, 2.0).report_count == 2


def test_32_concurrent_writers_are_coalesced_into_fewer_txns(tree_store: StoreFactory) -> None:
    registry = CollectorRegistry()
    store = tree_store(registry=registry)
    shared = agent_report("netchecker-agent-shared")

    def write(worker: int) -> None:
        own = agent_report(f"netchecker-agent-w{worker}")
        for index in range(20):
            store.put_report(own, 3000.0 + index)
            store.put_report(shared, 3000.0 + index)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(write, range(32)))
    batch = "netchecker_etcd_commit_batch_reports"
    reports = registry.get_sample_value(f"{batch}_sum")
    commits = registry.get_sample_value(f"{batch}_count") or 0
    singles = registry.get_sample_value(f"{batch}_bucket", {"le": "1.0"}) or 0
    assert reports == 32 * 20 * 2
    assert _txns(registry) < reports / 2
    assert singles < commits  # some commits carried more than one report
    records = store.list_records()
    assert len(records) == 33
    assert all(records[f"netchecker-agent-w{w}"].report_count == 20 for w in range(32))
    # 640 reports for one pod, many in the same batch: each one counted exactly once.
    assert records["netchecker-agent-shared"].report_count == 32 * 20


def test_listing_larger_than_grpc_default_limit_is_loaded(
    shared_etcd: EtcdProcess, make_store: StoreFactory, tree_store: StoreFactory, tree: str
) -> None:
    # 4 MiB written by 32 threads: on a loaded machine one batch's fsync can outlast the 1.5 s
    # the other tests allow, and this test is about the listing, not the write timeout.
    writer = make_store(replace(etcd_settings(shared_etcd.url, tree=tree), ping_timeout_seconds=10))
    padded = agent_report("netchecker-agent-big")
    padded = replace(padded, ips={f"eth{i}": ("192.0.2.1/24", "fd00::1/64") for i in range(40)})
    names = [f"netchecker-agent-big-{i}" for i in range(3000)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda name: writer.put_report(replace(padded, podname=name), 4000.0), names))
    reader = tree_store()
    wait_healthy(reader, 20)  # a 4 MiB first listing may outlast the ping timeout on a loaded machine
    records = reader.list_records()
    assert len(records) == 3000
    assert sum(len(json.dumps(r.report.ips)) for r in records.values()) > 4 * 1024 * 1024


def test_unreadable_values_under_the_prefix_are_ignored(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    shared_etcd.etcdctl("put", f"/{tree}/agents/garbage", "not json")
    store = tree_store()
    store.put_report(agent_report("netchecker-agent-fine"), 1.0)
    shared_etcd.etcdctl("put", f"/{tree}/agents/garbage2", '{"podname": 1}')
    assert set(store.list_records()) == {"netchecker-agent-fine"}


def test_close_is_idempotent_and_later_writes_fail(tree_store: StoreFactory) -> None:
    store = tree_store()
    store.close()
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.put_report(agent_report("netchecker-agent-late"), 1.0)


def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    settings = etcd_settings("https://127.0.0.1:1", ca=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match=r"-etcd-ca .*missing\.pem: cannot read"):
        EtcdStore(settings, report_ttl_seconds=300, registry=CollectorRegistry())


class History:
    """Writes one agent again and again and asks etcd whether its first revision is still there."""

    KEY = "/netchecker/agents/netchecker-agent-history"

    def __init__(self, etcd: EtcdProcess, compact_interval_seconds: float) -> None:
        settings = replace(etcd_settings(etcd.url), compact_interval_seconds=compact_interval_seconds)
        self.etcd = etcd
        self.store = EtcdStore(settings, report_ttl_seconds=300, registry=CollectorRegistry())
        self.report = agent_report("netchecker-agent-history")
        self.store.put_report(self.report, 1.0)
        self.first = json.loads(etcd.etcdctl("get", self.KEY, "-w", "json"))["kvs"][0]["mod_revision"]

    def first_revision_compacted(self) -> bool:
        self.store.put_report(self.report, time.time())
        try:
            self.etcd.etcdctl("get", self.KEY, f"--rev={self.first}")
        except subprocess.CalledProcessError as error:
            assert "compacted" in error.stderr
            return True
        return False


def test_store_compacts_etcd_history_it_no_longer_needs(etcd: EtcdProcess) -> None:
    history = History(etcd, compact_interval_seconds=0.5)
    try:
        wait_until(
            history.first_revision_compacted, 10, "the first revision to be compacted", interval_seconds=0.2
        )
        assert history.store.get_record(history.report.podname).report_count > 1  # type: ignore[union-attr]
    finally:
        history.store.close()


def test_compaction_can_be_left_to_whoever_else_shares_etcd(etcd: EtcdProcess) -> None:
    history = History(etcd, compact_interval_seconds=0)
    try:
        deadline = time.monotonic() + 3 * KEEPER_INTERVAL_SECONDS
        while time.monotonic() < deadline:
            assert not history.first_revision_compacted()
            time.sleep(0.2)
    finally:
        history.store.close()


# -- faults -------------------------------------------------------------------------------------


def test_etcd_down_fails_writes_in_time_keeps_reads_and_recovers(
    etcd: EtcdProcess, make_store: StoreFactory
) -> None:
    store = make_store(etcd_settings(etcd.url))
    report = agent_report("netchecker-agent-down")
    record = store.put_report(report, 5000.0)
    wait_healthy(store)
    etcd.kill()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.put_report(report, 5001.0)
    assert time.monotonic() - started <= PING_TIMEOUT_SECONDS + 1
    wait_until(lambda: not store.health().up, PING_TIMEOUT_SECONDS + 2, "health to go down")
    assert store.get_record(report.podname) == record
    etcd.start()
    wait_until(lambda: _put_succeeds(store, report, 5002.0), 10, "a write to succeed again")
    wait_healthy(store)
    assert store.get_record(report.podname).report_count == 2  # type: ignore[union-attr]


def _put_succeeds(store: EtcdStore, report: AgentReport, received_at: float) -> bool:
    try:
        store.put_report(report, received_at)
    except StoreUnavailableError:
        return False
    return True


def test_store_started_while_etcd_is_down_comes_up_by_itself(
    tmp_path: Path, make_store: StoreFactory
) -> None:
    etcd = EtcdProcess(tmp_path / "etcd")
    started = time.monotonic()
    store = make_store(etcd_settings(etcd.url))
    assert time.monotonic() - started <= PING_TIMEOUT_SECONDS + 1
    assert not store.health().up
    with pytest.raises(StoreUnavailableError):
        store.put_report(agent_report("netchecker-agent-early"), 1.0)
    with pytest.raises(StoreUnavailableError, match="not been loaded"):
        store.list_records()  # not an empty store: judging it would call every pod absent
    with pytest.raises(StoreUnavailableError, match="not been loaded"):
        store.get_record("netchecker-agent-early")
    etcd.start()
    try:
        wait_healthy(store, 15)
        assert store.list_records() == {}
        assert store.put_report(agent_report("netchecker-agent-early"), 2.0).report_count == 1
    finally:
        etcd.kill()


@dataclass
class Writers:
    """Threads that each write their own pod in a loop, remembering what was acknowledged."""

    store: EtcdStore
    count: int
    acknowledged: dict[str, AgentRecord] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: LoopThreads | None = None

    def start(self) -> Writers:
        self._threads = LoopThreads(self.count, self._write, name="writer")
        self._threads.start()
        return self

    def stop(self) -> None:
        assert self._threads is not None
        self._threads.stop()

    def _write(self, worker: int) -> None:
        report = agent_report(f"netchecker-agent-load-{worker}")
        try:
            record = self.store.put_report(report, time.time())
        except StoreUnavailableError:
            with self._lock:
                self.failures += 1
            time.sleep(0.05)
            return
        with self._lock:
            self.acknowledged[report.podname] = record
            self.ack_times.append(time.monotonic())

    def acks(self) -> int:
        with self._lock:
            return len(self.ack_times)

    def longest_gap_seconds(self) -> float:
        return longest_gap_seconds(self.ack_times)


def assert_nothing_acknowledged_is_lost(writers: Writers, reader: EtcdStore) -> None:
    stored = reader.list_records()
    assert writers.acknowledged
    for name, acked in writers.acknowledged.items():
        assert name in stored, f"acknowledged {name} is gone"
        assert stored[name].report_count >= acked.report_count, (name, stored[name], acked)
        assert stored[name].last_updated >= acked.last_updated


def test_etcd_killed_and_restarted_under_load_loses_no_acknowledged_report(
    etcd: EtcdProcess, make_store: StoreFactory
) -> None:
    store = make_store(etcd_settings(etcd.url))
    writers = Writers(store, count=16).start()
    try:
        wait_until(lambda: writers.acks() > 200, 10, "writes before the crash")
        etcd.kill()
        wait_until(lambda: writers.failures > 0, 10, "writes to fail while etcd is down")
        etcd.start()
        before = writers.acks()
        wait_until(lambda: writers.acks() > before + 200, 15, "writes after the restart")
    finally:
        writers.stop()
    assert_nothing_acknowledged_is_lost(writers, make_store(etcd_settings(etcd.url)))


def test_leader_killed_during_ingest_loses_nothing_and_ingest_resumes(
    tmp_path: Path, make_store: StoreFactory
) -> None:
    members = make_cluster(tmp_path / "cluster", 3)
    try:
        leader = next(m for m in members if m.is_leader())
        # The leader first: the store must fail over to another endpoint, not just wait for a new leader.
        urls = [leader.url] + [m.url for m in members if m is not leader]
        store = make_store(etcd_settings(*urls))
        writers = Writers(store, count=16).start()
        try:
            wait_until(lambda: writers.acks() > 200, 10, "writes before the leader dies")
            leader.kill()
            before = writers.acks()
            wait_until(lambda: writers.acks() > before + 200, 15, "writes after the leader died")
        finally:
            writers.stop()
        gap = writers.longest_gap_seconds()
        assert gap < 5, f"no write was acknowledged for {gap:.1f} s"
        survivors = [m.url for m in members if m is not leader]
        assert_nothing_acknowledged_is_lost(writers, make_store(etcd_settings(*survivors)))
    finally:
        stop_all(members)


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdProcess, TlsFiles]]:
    directory = tmp_path_factory.mktemp("etcd-tls")
    tls = make_tls_files(directory)
    process = EtcdProcess(directory / "data", tls=tls)
    process.start()
    yield process, tls
    process.kill()


def test_tls_with_client_certificate_works(
    tls_etcd: tuple[EtcdProcess, TlsFiles], make_store: StoreFactory
) -> None:
    process, tls = tls_etcd
    store = make_store(etcd_settings(process.url, tls=tls))
    assert store.put_report(agent_report("netchecker-agent-tls"), 1.0).report_count == 1
    wait_healthy(store)
    assert "netchecker-agent-tls" in process.etcdctl("get", "--prefix", "/netchecker/", "--keys-only")


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("server not signed by the given CA", {"ca_override": True}),
        ("no client certificate", {"client_cert": False}),
        ("plain text to a TLS port", {"plain": True}),
    ],
)
def test_tls_misconfiguration_fails_loudly(
    tls_etcd: tuple[EtcdProcess, TlsFiles], make_store: StoreFactory, case: str, kwargs: Any
) -> None:
    process, tls = tls_etcd
    if kwargs.get("plain"):
        settings = etcd_settings(process.url.replace("https://", "http://"))
    else:
        settings = etcd_settings(
            process.url,
            tls=tls,
            client_cert=kwargs.get("client_cert", True),
            ca=tls.other_ca if kwargs.get("ca_override") else None,
        )
    store = make_store(settings)
    with pytest.raises(StoreUnavailableError):
        store.put_report(agent_report("netchecker-agent-bad-tls"), 1.0)
    assert not store.health().up, case


def test_client_metrics_count_requests_by_result_and_watch_restarts(
    etcd: EtcdProcess, make_store: StoreFactory
) -> None:
    registry = CollectorRegistry()
    store = make_store(etcd_settings(etcd.url), registry=registry)
    report = agent_report("netchecker-agent-metered")
    store.put_report(report, 1.0)
    wait_healthy(store)
    assert _txns(registry) == 1
    assert registry.get_sample_value("netchecker_etcd_commit_batch_reports_count") == 1
    etcd.kill()
    with pytest.raises(StoreUnavailableError):
        store.put_report(report, 2.0)
    failed = sum(
        registry.get_sample_value("netchecker_etcd_requests_total", {"rpc": "txn", "result": code}) or 0
        for code in ("unavailable", "deadline_exceeded")
    )
    assert failed >= 1
    etcd.start()
    wait_until(lambda: _put_succeeds(store, report, 3.0), 10, "a write to succeed again")
    restarts = {"reason": "error"}
    wait_until(
        lambda: (registry.get_sample_value("netchecker_etcd_watch_restarts_total", restarts) or 0) >= 1,
        10,
        "the broken watch to be counted",
    )


def test_a_busy_nodes_record_and_a_truncated_one_round_trip_through_etcd(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    busy = busy_node_report()
    whole = parse_report(busy, busy["podname"], max_field_bytes=MAX_STORED_FIELD_BYTES_LIMIT)
    cut = parse_report({**busy, "podname": "netchecker-agent-hostnet-cut"}, "netchecker-agent-hostnet-cut")
    assert (whole.truncated, cut.truncated) == ((), ("ips",))
    writer = tree_store()
    writer.put_report(whole, 1_800_000_000.0)
    writer.put_report(cut, 1_800_000_000.0)
    reader = tree_store()
    wait_healthy(reader)

    def both() -> dict[str, AgentRecord] | None:
        records = reader.list_records()
        return dict(records) if len(records) == 2 else None

    records = wait_until(both, 10, "both records in the reader's mirror")
    assert records[whole.podname].report == whole
    assert records[cut.podname].report == cut
    stored = json.loads(shared_etcd.etcdctl("get", f"/{tree}/agents/{cut.podname}", "--print-value-only"))
    assert stored["netchecker"]["truncated"] == ["ips"]


def test_a_record_at_every_bound_fits_one_etcd_request(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    """-max-stored-field-bytes at its highest for both fields, 32 probes of 2 KB URLs: under etcd's
    default --max-request-bytes (1.5 MiB), which is why the flag stops at 640 KiB."""
    addresses = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}/32" for i in range(60_000)]
    payload = {
        "podname": "netchecker-agent-hostnet-max",
        "report_interval": 10,
        "ips": {"kube-ipvs0": addresses},
        "nslookup": {"h": [a[:-3] for a in addresses]},
        "network_probes": [{"URL": f"http://{i}/" + "u" * 2030} for i in range(32)],
    }
    report = parse_report(payload, payload["podname"], max_field_bytes=MAX_STORED_FIELD_BYTES_LIMIT)
    assert report.truncated == ("ips", "nslookup")
    store = tree_store()
    store.put_report(report, 1_800_000_000.0)
    value = shared_etcd.etcdctl("get", f"/{tree}/agents/{report.podname}", "--print-value-only")
    assert 2 * 600 * 1024 < len(value.encode()) < 1536 * 1024
    assert store.get_record(report.podname).report == report  # type: ignore[union-attr]
