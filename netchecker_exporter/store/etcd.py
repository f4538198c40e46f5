"""The etcd v3 store: one key per agent under /<tree>/agents/, group-committed, mirrored by a watch.

The only module that talks to etcd (our own generated gRPC stubs, store/etcd_rpc.py); everything it
raises on purpose is a StoreUnavailableError. See docs/etcd.md for the design and its limits.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import tenacity
from prometheus_client import CollectorRegistry

from netchecker_exporter.diagnosis.history import HistoryLimits
from netchecker_exporter.errors import StoreUnavailableError
from netchecker_exporter.flags import default
from netchecker_exporter.report import AgentRecord, AgentReport
from netchecker_exporter.settings import EtcdSettings
from netchecker_exporter.store import etcd_rpc as etcdrpc
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.compaction import CompactionSchedule
from netchecker_exporter.store.etcd_channel import (
    REQUIRE_LEADER,
    Endpoints,
    describe_rpc_error,
    is_no_space,
    is_request_too_large,
    is_transient,
    says_no_leader,
)
from netchecker_exporter.store.etcd_history import EtcdHistory
from netchecker_exporter.store.etcd_keeper import KEEPER_INTERVAL_SECONDS, EtcdKeeper
from netchecker_exporter.store.etcd_leader import SEARCH_SECONDS as LEADER_SEARCH_SECONDS
from netchecker_exporter.store.etcd_leader import find_leader
from netchecker_exporter.store.etcd_metrics import EtcdClientMetrics
from netchecker_exporter.store.etcd_plan import (
    Base,
    PodPuts,
    PodWrite,
    Put,
    group_by_pod,
    plan_pod_write,
    split_by_value_bytes,
)
from netchecker_exporter.store.etcd_rpc import Stubs
from netchecker_exporter.store.etcd_watch import EtcdWatch, decode_record
from netchecker_exporter.store.group_commit import GroupCommitter, Linger
from netchecker_exporter.store.lease_pool import LeasePool
from netchecker_exporter.store.mirror import Mirror, MirrorEntry, OwnWrites
from netchecker_exporter.store.nospace import NoSpaceRecovery
from netchecker_exporter.store.reachability import Reachability
from netchecker_exporter.store.record_size import max_stored_record_bytes, refused_by_etcd, too_large

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TXN_REPORTS = 60
"""Reports per Txn: a Txn holds one compare, one put and one range per pod (etcd's --max-txn-ops 128)."""
MAX_TXN_VALUE_BYTES = 1_000_000
"""Value bytes per Txn, under etcd's --max-request-bytes of 1.5 MiB."""
MAX_CONFLICT_ROUNDS = 5
COMMIT_LINGER = Linger(seconds=0.002, after_items=2)
"""Once batches hold two reports, each waits 2 ms for more: a Txn's gRPC call costs about 500 us
of CPU whatever its size, and a steady fleet's batches of 1-2 never reached a higher mark
(docs/performance.md, "The etcd store's share of the CPU per report")."""
FIRST_RETRY_WAIT_SECONDS = 0.05
"""The backoff: attempt n + 1 waits a random time up to min(1 s, this x 2^(n - 1))."""
MOD, EQUAL = etcdrpc.Compare.MOD, etcdrpc.Compare.EQUAL
DEFAULT_MAX_PENDING_WRITES: int = default("max-pending-writes")
ATTEMPT_TIMEOUT_SECONDS = 0.75
"""One attempt's share of the deadline. A write that a follower forwarded to a leader that just died
is dropped, and etcd answers it only at its own request timeout (about 7 s); a fresh attempt, which
the compare-and-swap makes safe to repeat, reaches the new leader (docs/etcd.md, "An etcd cluster")."""
NOT_TAKEN = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE})
"""A write that hung, could not reach its member, or met a member without a leader: find the leader."""

__all__ = ["KEEPER_INTERVAL_SECONDS", "EtcdStore", "Stubs"]


class EtcdStore:
    """ReportStore on etcd v3; reads come from the in-memory mirror and never touch etcd."""

    def __init__(  # noqa: PLR0913 (keyword-only dependencies, each passed in by cli.py or a test)
        self,
        settings: EtcdSettings,
        *,
        report_ttl_seconds: int,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
        capacity: AgentCapacity | None = None,
        max_pending_writes: int = DEFAULT_MAX_PENDING_WRITES,
        nospace: NoSpaceRecovery | None = None,
    ) -> None:
        self.metrics = EtcdClientMetrics(registry)
        self._timeout = settings.ping_timeout_seconds
        self._capacity = capacity
        self.max_record_bytes = max_stored_record_bytes(capacity.max_agents if capacity else None)
        self._probe_key = f"/{settings.tree}/write-probe".encode()
        self._prefix = f"/{settings.tree}/agents/".encode()
        self._tree = settings.tree
        self._endpoints: Endpoints[Stubs] = Endpoints(settings, Stubs.on)
        self._mirror = Mirror()
        self._own_writes = OwnWrites()
        self._leases = LeasePool(ttl_seconds=report_ttl_seconds, clock=clock)
        interval = settings.compact_interval_seconds
        self._compaction = CompactionSchedule(interval) if interval > 0 else None
        self._nospace = nospace or NoSpaceRecovery()
        self._reachability = Reachability(", ".join(settings.endpoints))
        self._closed = False
        self._lock = threading.Lock()
        self._committer: GroupCommitter[Put, AgentRecord] = GroupCommitter(
            self._commit,
            max_items=MAX_TXN_REPORTS,
            name="etcd-writer",
            max_pending=max_pending_writes,
            linger=COMMIT_LINGER,
        )
        self._watch = EtcdWatch(
            prefix=self._prefix,
            timeout=self._timeout,
            mirror=self._mirror,
            own_writes=self._own_writes,
            endpoints=self._endpoints,
            reachability=self._reachability,
            metrics=self.metrics,
            call=self._call,
        )
        self._keeper = EtcdKeeper(
            timeout=self._timeout,
            compaction=self._compaction,
            leases=self._leases,
            call=self._call,
            grant=self._grant,
            reachability=self._reachability,
            probe_key=self._probe_key,
            nospace=self._nospace,
        )
        self._watch.start()
        self._keeper.start()
        if not self._mirror.wait_loaded(self._timeout):
            log.warning(
                "etcd store: no listing from %s within %g s; starting empty and retrying in the background",
                ", ".join(settings.endpoints),
                self._timeout,
            )

    # -- ReportStore --------------------------------------------------------------------------

    def put_report(self, report: AgentReport, received_at: float) -> AgentRecord:
        """Refused at once while etcd is known to refuse writes (circuit breaker: the keeper probes)."""
        refusal = self._reachability.write_refusal()
        if refusal is not None:
            raise StoreUnavailableError(refusal)
        if self._capacity is not None:
            known = self._mirror.entry(report.podname) is not None
            self._capacity.admit_report(report, known=known, count=self._mirror.count(),
                                        names=self._mirror.names, records=self._mirror.records)  # fmt: skip
        return self._committer.submit(Put(report, received_at), self._timeout)

    def get_record(self, podname: str) -> AgentRecord | None:
        self._require_loaded()
        entry = self._mirror.entry(podname)
        return entry.record if entry else None

    def list_records(self) -> Mapping[str, AgentRecord]:
        self._require_loaded()
        return self._mirror.records()

    def _require_loaded(self) -> None:
        """An empty mirror that was never loaded is not 'no agents': it would call every pod absent."""
        if not self._mirror.loaded:
            raise StoreUnavailableError("etcd store: the records have not been loaded from etcd yet")

    def history(self, limits: HistoryLimits, **tunables: Any) -> EtcdHistory:
        """The diagnosis history's store, on this store's connections (close it before this one)."""
        call = functools.partial(self._call, judges=False)
        return EtcdHistory(call, tree=self._tree, timeout_seconds=self._timeout, limits=limits, **tunables)

    def health(self) -> StoreHealth:
        if not self._mirror.loaded:
            return StoreHealth(up=False, detail="etcd store: initial listing not loaded yet")
        return self._reachability.health()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for part in (self._watch, self._keeper):  # both asked first, so their last calls end together
            part.stop()
        self._committer.close()
        for part in (self._watch, self._keeper):
            part.join()
        self._endpoints.close()

    # -- calls with retries ---------------------------------------------------------------------

    def _call(
        self,
        what: str,
        action: Callable[[Stubs, float], T],
        deadline: float,
        *,
        write: bool = False,
        judges: bool = True,
    ) -> T:
        """Run `action(stubs, timeout)` with backoff and endpoint failover until `deadline`.

        A failed write marks writes failing (not etcd unreachable: it may answer reads), a
        successful one marks them good; only reads and the keeper decide reachability, and only
        calls that `judges` (the history's do not: its hiccups must not refuse reports).
        """
        try:
            result = self._attempts(what, action, deadline, write=write)
        except grpc.RpcError as error:
            detail = f"etcd {what} failed: {describe_rpc_error(error)}"
            if judges and write and (is_transient(error) or is_no_space(error)):
                self._reachability.writes(False, detail)
            elif judges and is_transient(error):
                self._reachability.mark(False, detail)
            raise StoreUnavailableError(detail) from error
        if judges:
            self._reachability.mark(True)
            if write:
                self._reachability.writes(True)
        return result

    def _attempts(self, what: str, action: Callable[[Stubs, float], T], deadline: float, *, write: bool) -> T:
        """The first attempt bare, then tenacity's backoff: building and running a Retrying costs
        about 50 us, a tenth of a Txn's CPU, so only a call whose first attempt failed pays it. The
        waits are the ones one Retrying from the start would sleep (docs/etcd.md, "Faults")."""
        try:
            return self._attempt(what, action, deadline, write=write)
        except grpc.RpcError as error:
            first_wait = random.uniform(0.0, FIRST_RETRY_WAIT_SECONDS)
            if not is_transient(error) or time.monotonic() + first_wait >= deadline:
                raise
        time.sleep(first_wait)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_before_delay(max(0.0, deadline - time.monotonic())),
            # attempt n here is attempt n + 1 of the call: the wait of exponent n, not n - 1
            wait=tenacity.wait_random_exponential(multiplier=2 * FIRST_RETRY_WAIT_SECONDS, max=1.0),
            retry=tenacity.retry_if_exception(is_transient),
            reraise=True,
        )
        result: T = retrying(self._attempt, what, action, deadline, write=write)
        return result

    def _attempt(self, what: str, action: Callable[[Stubs, float], T], deadline: float, *, write: bool) -> T:
        stubs = self._endpoints.current()
        rpc = what.replace(" ", "_")
        try:
            result = action(stubs, min(ATTEMPT_TIMEOUT_SECONDS, max(0.05, deadline - time.monotonic())))
        except grpc.RpcError as error:
            self.metrics.request_done(rpc, _result_of(error))
            if is_transient(error):
                self._endpoints.failed(stubs, error)
                if write and error.code() in NOT_TAKEN:
                    self._follow_the_leader(None if says_no_leader(error) else stubs, deadline)
            if "lease not found" in describe_rpc_error(error):
                self._leases.forget()
            raise
        self.metrics.request_done(rpc, "ok")
        return result

    def _follow_the_leader(self, hung: Stubs | None, deadline: float) -> None:
        """A write was not taken (hung, refused, no leader): ask the members which one leads rather
        than try them in turn, where a follower would forward to a leader that may be gone."""
        members = self._endpoints.members()
        if len(members) > 1:
            until = min(deadline, time.monotonic() + LEADER_SEARCH_SECONDS)
            failed = next((i for i, m in enumerate(members) if m is hung), None)
            found = find_leader(members, until, failed=failed)
            if found is not None:
                self._endpoints.use(found)

    def _grant(self, stubs: Stubs, ttl_seconds: int, timeout: float) -> int:
        request = etcdrpc.LeaseGrantRequest(TTL=ttl_seconds)
        response = stubs.lease.LeaseGrant(request, timeout=timeout, metadata=REQUIRE_LEADER)
        if response.error:
            raise StoreUnavailableError(f"etcd refused a lease: {response.error}")
        return int(response.ID)

    # -- group commit ---------------------------------------------------------------------------

    def _commit(self, puts: Sequence[Put], deadline: float) -> list[AgentRecord | Exception]:
        """Commit a batch (writer thread); one result or error per put, in order."""
        refusal = self._reachability.write_refusal()
        if refusal is not None:  # queued before the store was known down: no deadline to wait out
            return [StoreUnavailableError(refusal) for _ in puts]
        self.metrics.commit_batch_reports.observe(len(puts))
        pods = group_by_pod(puts)
        bases = {name: Base.of(self._mirror.entry(name)) for name in pods}
        writes = [plan_pod_write(name, items, bases[name]) for name, items in pods.items()]
        results: dict[int, AgentRecord | Exception] = {}
        writes = self._refuse_oversized(writes, results)
        for chunk in split_by_value_bytes(writes, MAX_TXN_VALUE_BYTES) if writes else []:
            results.update(self._commit_chunk(chunk, pods, bases, deadline))
        return [results[index] for index in range(len(puts))]

    def _commit_chunk(
        self, chunk: list[PodWrite], pods: PodPuts, bases: dict[str, Base], deadline: float
    ) -> dict[int, AgentRecord | Exception]:
        """One Txn; if etcd finds it too large (an etcd run with a smaller --max-request-bytes than
        the default our bound assumes), each write again on its own, and one still too large alone
        is that report's 413."""
        try:
            return dict(self._commit_writes(chunk, pods, bases, deadline))
        except StoreUnavailableError as error:
            if not is_request_too_large(error.__cause__):
                return {index: error for write in chunk for index, _ in write.records}
            if len(chunk) == 1:
                refused = refused_by_etcd(chunk[0].podname, len(chunk[0].value))
                return {index: refused for index, _ in chunk[0].records}
        results: dict[int, AgentRecord | Exception] = {}
        for write in chunk:
            results.update(self._commit_chunk([write], pods, bases, deadline))
        return results

    def _refuse_oversized(
        self, writes: list[PodWrite], results: dict[int, AgentRecord | Exception]
    ) -> list[PodWrite]:
        """A value etcd could not take is that pod's 413, never sent: no retries, no breaker, no 503
        for the others in the batch."""
        fitting = []
        for write in writes:
            if len(write.value) <= self.max_record_bytes:
                fitting.append(write)
                continue
            error = too_large(write.podname, len(write.value), self.max_record_bytes)
            results.update({index: error for index, _ in write.records})
        return fitting

    def _commit_writes(
        self, writes: list[PodWrite], pods: PodPuts, bases: dict[str, Base], deadline: float
    ) -> dict[int, AgentRecord]:
        """Compare-and-swap every pod's key against the revision its totals were computed from."""
        done: dict[int, AgentRecord] = {}
        for _ in range(MAX_CONFLICT_ROUNDS):
            with self._own_writes.in_flight([(w.podname, w.value, w.records[-1][1]) for w in writes]):
                response = self._call(
                    "txn", functools.partial(self._send_txn, writes=writes), deadline, write=True
                )
                if response.succeeded:
                    self._finish(writes, response.header.revision, done)
                    return done
                writes = self._resolve_conflicts(writes, response, pods, bases, done)
            if not writes:
                return done
        raise StoreUnavailableError(f"etcd txn: {len(writes)} agents kept changing under concurrent writes")

    def _send_txn(self, stubs: Stubs, timeout: float, *, writes: list[PodWrite]) -> Any:
        """Fields set in place: half the cost of building each op and copying it in (upb)."""
        request = etcdrpc.TxnRequest()
        compare, success, failure = request.compare, request.success, request.failure
        for write in writes:
            key = self._prefix + write.podname.encode()
            lease = self._leases.lease_for(write.podname, lambda ttl: self._grant(stubs, ttl, timeout))
            compare.add(key=key, target=MOD, result=EQUAL, mod_revision=write.base_revision)
            put = success.add().request_put
            put.key, put.value, put.lease = key, write.value, lease
            failure.add().request_range.key = key
        return stubs.kv.Txn(request, timeout=timeout, metadata=REQUIRE_LEADER)

    def _finish(self, writes: list[PodWrite], revision: int, done: dict[int, AgentRecord]) -> None:
        self._mirror.apply_committed({w.podname: MirrorEntry(w.records[-1][1], revision) for w in writes})
        for write in writes:
            done.update(write.records)

    def _resolve_conflicts(
        self,
        writes: list[PodWrite],
        response: Any,
        pods: PodPuts,
        bases: dict[str, Base],
        done: dict[int, AgentRecord],
    ) -> list[PodWrite]:
        """After a failed compare: adopt the current values and plan again. A current value equal
        to ours means an earlier attempt that timed out did commit: done, never counted twice."""
        retry = []
        for write, reply in zip(writes, response.responses, strict=True):
            kvs = reply.response_range.kvs
            if kvs and kvs[0].value == write.value:
                self._finish([write], kvs[0].mod_revision, done)
                continue
            base = Base(decode_record(kvs[0], self._prefix), kvs[0].mod_revision) if kvs else Base(None, 0)
            bases[write.podname] = base
            retry.append(plan_pod_write(write.podname, pods[write.podname], base))
        return retry


def _result_of(error: grpc.RpcError) -> str:
    try:
        return str(error.code().name).lower()
    except AttributeError:
        return "unknown"
