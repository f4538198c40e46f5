"""Three replicas, sharded three ways, on one three-member etcd 3.6 cluster, their agent pods listed
from the real kube-apiserver, a steady fleet spread over them by a round robin (as a Service does).
One replica killed, all of them rolled, one agent's reports spread over all three: nothing
acknowledged is lost, the live replicas answer every POST, the replicas agree, the counters are
exact (docs/scaling.md, "Replicas under faults")."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from e2e.cluster import Cluster
from e2e.conftest import PodFactory
from e2e.replica_fleet import Fleet, Post, Rotation, post_answer, post_report, report_body
from e2e.replica_views import shard_union, stored_records, views, watch_lag_seconds
from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until
from tests.support.ports import free_port

REPLICAS = 3
AGENTS = 12
"""Posting every 50 ms each: about 100 reports/s over the three, on a shared 2-core machine."""
REPORTS = "netchecker_agent_reports_total"
MISSED = "netchecker_agent_missed_keepalives_total"
WATCH_LAG_SECONDS = 5.0
"""The bound on a report reaching the other replicas; measured far below it (docs/scaling.md)."""
AGREE_SECONDS = 15.0
"""The bound on every replica's views becoming equal once the posts stop (a pass runs every 1 s)."""

Replicas = Callable[[], list["Replica"]]


@pytest.fixture
def replicas(cluster: Cluster, etcd_members: list[EtcdProcess], tmp_path: Path) -> Iterator[Replicas]:
    """start() -> three replicas, shard i on pod netchecker-server-i, each given every member (its
    own first, spreading the clients); every one started is stopped at the end. -events=false: the
    elected writer of Events is e2e/test_events.py's subject, not this one's."""
    started: list[Replica] = []

    def start() -> list[Replica]:
        kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
        for i in range(REPLICAS):
            urls = [m.url for m in etcd_members[i:] + etcd_members[:i]]
            flags = [f"-etcd-endpoints={','.join(urls)}", f"-kubeconfig={kubeconfig}", "-check-interval=1",
                     "-report-ttl=600", "-startup-grace=60", "-events=false",
                     f"-total-shards={REPLICAS}", f"-pod=netchecker-server-{i}"]  # fmt: skip
            started.append(Replica(flags, tmp_path / f"replica-{i}"))
        for replica in started:
            replica.start()
        for replica in started:
            wait_ready(replica)
        return started

    yield start
    for replica in started:
        replica.stop()


class Replica:
    """One replica across restarts: the same port and flags, as a pod that comes back; a log per start."""

    def __init__(self, flags: list[str], log_stem: Path) -> None:
        self.flags, self.port, self._log_stem = flags, free_port(), log_stem
        self._starts = 0
        self._process: ExporterProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._starts += 1
        log_path = self._log_stem.with_name(f"{self._log_stem.name}-{self._starts}.log")
        self._process = ExporterProcess(*self.flags, log_path=log_path, port=self.port, wait=False)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()


def wait_ready(replica: Replica) -> None:
    def ready() -> bool:
        return requests.get(replica.url + "/readyz", timeout=2).status_code == 200

    wait_until(ready, 30, f"{replica.url} ready", interval_seconds=0.1, ignoring=(requests.RequestException,))


def rejoin(rotation: Rotation, replica: Replica, index: int) -> None:
    """A stopped replica started again and, once ready, back in the rotation, as a Service adds a
    pod whose readiness probe passes."""
    replica.start()
    wait_ready(replica)
    rotation.add(index)


@contextmanager
def posting(rotation: Rotation, agents: list[tuple[str, str]]) -> Iterator[Fleet]:
    """The fleet posting through the rotation while the block runs, stopped however it ends, so a
    failed step leaves no agent thread behind."""
    fleet = Fleet(rotation, agents).start()
    try:
        yield fleet
    finally:
        fleet.stop()


def agent_pods(pods: PodFactory, prefix: str, count: int) -> list[tuple[str, str]]:
    """`count` agent pods in the API server, each on a node of its own: (pod, node)."""
    agents = [(f"netchecker-agent-{prefix}{i:02d}", f"node-{prefix}{i:02d}") for i in range(count)]
    for pod, node in agents:
        pods(pod, node)
    return agents


def wait_all_agree(urls: list[str], since: float) -> float:
    """Seconds from `since` until every replica answers the same views; past AGREE_SECONDS, fails
    naming the views that still differ."""
    differing: list[str] = []

    def agree() -> bool:
        first, *others = [views(url) for url in urls]
        differing[:] = sorted({key for other in others for key in first if other[key] != first[key]})
        if differing:
            last_seen.update({url: view for url, view in zip(urls, [first, *others], strict=True)})
        return not differing

    last_seen: dict[str, dict[str, Any]] = {}
    try:
        wait_until(agree, AGREE_SECONDS, "every replica's views to agree", interval_seconds=0.2)
    except TimeoutError:
        detail = {url: {key: view[key] for key in differing} for url, view in last_seen.items()}
        raise AssertionError(f"{differing} still differ: {json.dumps(detail)[:6000]}") from None
    return time.monotonic() - since


def assert_no_acknowledged_report_lost(fleet: Fleet, urls: list[str], member: EtcdProcess) -> None:
    """Each pod's stored count is at least its 200s and at most its POSTs (an unanswered one may
    have been stored): in etcd, and on /metrics of the shard that exports the pod."""
    acked, unanswered = fleet.acknowledged(), fleet.unanswered()
    stored = stored_records(member.etcdctl("get", "--prefix", "/netchecker/agents/", "--print-value-only"))
    exported, twice = shard_union(urls)
    assert not twice, f"pods exported by two shards: {twice}"
    for pod, _node in fleet.agents:
        most = acked[pod] + unanswered[pod]
        assert acked[pod] <= stored[pod]["netchecker"]["report_count"] <= most, (pod, acked[pod], most)
        assert acked[pod] <= exported[pod][REPORTS] <= most, (pod, acked[pod], exported[pod])


def lag_samples(urls: list[str], pod: str, node: str, count: int) -> list[float]:
    """`count` watch lags, the writer taking turns (under the fleet's load)."""
    lags: list[float] = []
    for i in range(count):
        writer = urls[i % len(urls)]
        lags += watch_lag_seconds(writer, [u for u in urls if u != writer], pod, node)
    return lags


def describe(name: str, values: list[float]) -> str:
    return f"{name}: median {statistics.median(values):.3f} s, max {max(values):.3f} s, n={len(values)}"


def test_a_replica_killed_mid_fleet_loses_no_acknowledged_report(
    replicas: Replicas, pods: PodFactory, etcd_members: list[EtcdProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    agents = agent_pods(pods, "k", AGENTS)
    ((lag_pod, lag_node),) = agent_pods(pods, "klag", 1)
    servers = replicas()
    urls = [s.url for s in servers]
    rotation = Rotation(urls)
    with posting(rotation, agents) as fleet:
        fleet.wait_for_more(300)
        before = lag_samples(urls, lag_pod, lag_node, 6)
        victim = 1
        every_pod = {pod for pod, _ in agents} | {lag_pod}
        wait_until(lambda: set(shard_union(urls)[0]) == every_pod, 15, "every pod on some shard")
        its_agents = set(shard_union([urls[victim]])[0])
        killed_at = time.monotonic()
        servers[victim].kill()
        time.sleep(1.0)  # a Service keeps routing to the dead pod until its readiness probe fails
        rotation.remove(victim)
        out_at = time.monotonic()
        fleet.wait_for_more(300)
        survivors = [u for i, u in enumerate(urls) if i != victim]
        during = lag_samples(survivors, lag_pod, lag_node, 6)
        # A down shard's agents have no series until it is back (docs/scaling.md); the rest keep theirs.
        assert its_agents and set(shard_union(survivors)[0]) == every_pod - its_agents
        rejoin(rotation, servers[victim], victim)
        fleet.wait_for_more(200)
    stopped = time.monotonic()
    posts = fleet.snapshot()
    assert_every_live_replica_answered(posts, victim, killed_at, out_at)
    assert any(p.replica == victim and p.status == 0 for p in posts), "the kill cut no POST"
    agreed = wait_all_agree(urls, stopped)
    listed = {"Message": f"All {AGENTS + 1} pods successfully reported back to the server",
              "Absent": None, "Outdated": None}  # fmt: skip
    assert views(urls[0])["connectivity_check"] == (200, listed), "the API server lists the fleet's pods"
    assert_no_acknowledged_report_lost(fleet, urls, etcd_members[0])
    lags = before + during
    assert max(lags) < WATCH_LAG_SECONDS, describe("watch lag", lags)
    with capsys.disabled():
        print(f"\nreplicas/kill: {len(posts)} POSTs, {sum(p.status == 200 for p in posts)} acknowledged, "
              f"{sum(p.status != 200 for p in posts)} cut by the kill; {describe('watch lag', lags)}; "
              f"views agreed {agreed:.2f} s after the last POST; "
              f"wall {time.monotonic() - began:.1f} s")  # fmt: skip


def assert_every_live_replica_answered(
    posts: list[Post], victim: int, killed_at: float, out_at: float
) -> None:
    """Every POST got a 200, except those to the victim that were in flight at the kill or sent to
    it before it left the rotation."""
    cut = [p for p in posts if p.status != 200]
    strays = [p for p in cut if not (p.replica == victim and p.done >= killed_at and p.sent <= out_at)]
    assert not strays, strays[:10]
    assert {p.status for p in cut} <= {0}, sorted({p.status for p in cut})


def test_a_rolling_restart_loses_nothing_and_leaves_every_agent_on_one_shard(
    replicas: Replicas, pods: PodFactory, etcd_members: list[EtcdProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each replica in turn leaves the rotation (a terminating pod leaves the endpoints) and at once
    gets SIGTERM, with POSTs still in flight. It starts again and rejoins once ready. No answer is
    a 5xx; a POST goes unanswered only when it reached the stopping replica as it closed."""
    began = time.monotonic()
    agents = agent_pods(pods, "r", AGENTS)
    servers = replicas()
    urls = [s.url for s in servers]
    rotation = Rotation(urls)
    windows: list[tuple[float, float]] = []
    """Each replica's (SIGTERM, ready again)."""
    with posting(rotation, agents) as fleet:
        fleet.wait_for_more(200)
        for i, server in enumerate(servers):
            rotation.remove(i)
            stopping = time.monotonic()
            server.stop()
            rejoin(rotation, server, i)
            windows.append((stopping, time.monotonic()))
            fleet.wait_for_more(150)
    stopped = time.monotonic()
    posts = fleet.snapshot()
    assert not [p for p in posts if p.status >= 500], "a 5xx during the roll"
    held = [p for p in posts if p.sent < windows[p.replica][0] < p.done]
    strays = [p for p in posts if p.status != 200 and p not in held]
    assert not strays, strays[:10]
    agreed = wait_all_agree(urls, stopped)
    assert_no_acknowledged_report_lost(fleet, urls, etcd_members[2])
    assert sorted(shard_union(urls)[0]) == sorted(pod for pod, _ in agents)
    answered = sum(p.status == 200 for p in held)
    with capsys.disabled():
        print(f"\nreplicas/roll: {len(posts)} POSTs, {sum(p.status == 200 for p in posts)} acknowledged; "
              f"{len(held)} in flight at a SIGTERM, {answered} of them answered 200, the rest cut; "
              f"SIGTERM-to-ready {', '.join(f'{b - a:.1f}' for a, b in windows)} s; "
              f"views agreed {agreed:.2f} s after the last POST; "
              f"wall {time.monotonic() - began:.1f} s")  # fmt: skip


def test_counters_are_exact_when_one_agents_reports_land_on_different_replicas(
    replicas: Replicas, pods: PodFactory, etcd_members: list[EtcdProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    """Reports count one each however the replicas race for the record (compare-and-swap), and the
    missed keepalives follow the gaps between reports, whichever replica took each one."""
    began = time.monotonic()
    (racer, racer_node), (gappy, gappy_node) = agent_pods(pods, "c", 2)
    servers = replicas()
    urls = [s.url for s in servers]
    each, answers = 30, []

    def race(url: str) -> None:
        for _ in range(each):
            answers.append(post_answer(url, racer, report_body(racer, racer_node, 10)))

    threads = [threading.Thread(target=race, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    # gappy reports every 1 s (a missed window is 2 s); gaps in the middle of their windows
    gaps_and_missed = [(0.5, 0), (5.0, 2), (3.0, 1), (1.0, 0)]
    assert post_report(urls[0], gappy, report_body(gappy, gappy_node, 1)) == 200
    for i, (gap, _missed) in enumerate(gaps_and_missed, start=1):
        time.sleep(gap)
        last = i == len(gaps_and_missed)  # an interval of 600: no window passes while the test reads
        assert (
            post_report(urls[i % REPLICAS], gappy, report_body(gappy, gappy_node, 600 if last else 1)) == 200
        )
    for thread in threads:
        thread.join(timeout=60)
    # Three writers on one key back to back (no real agent does that): a replica may lose the
    # compare-and-swap MAX_CONFLICT_ROUNDS times in a row and answer 503, storing nothing.
    refused = [text for status, text in answers if status != 200]
    assert all("kept changing under concurrent writes" in text for text in refused), refused[:3]
    acked = len(answers) - len(refused)
    assert acked >= REPLICAS * each // 2, f"{len(refused)} of {len(answers)} racing POSTs refused"
    expected = {
        racer: (acked, 0),
        gappy: (len(gaps_and_missed) + 1, sum(m for _, m in gaps_and_missed)),
    }

    found: dict[str, tuple[float, float]] = {}

    def exported() -> bool:
        union, twice = shard_union(urls)
        assert not twice, twice
        found.update({pod: (union[pod][REPORTS], union[pod][MISSED]) for pod in expected if pod in union})
        return found == expected

    try:
        wait_until(exported, 15, "the shards' /metrics to show the counters", interval_seconds=0.2)
    except TimeoutError:
        raise AssertionError(
            f"(reports, missed keepalives) exported: {found}, expected: {expected}"
        ) from None
    stored = stored_records(
        etcd_members[1].etcdctl("get", "--prefix", "/netchecker/agents/", "--print-value-only")
    )
    totals = {pod: stored[pod]["netchecker"] for pod in expected}
    counters = {pod: (total["report_count"], total["missed_keepalives"]) for pod, total in totals.items()}
    assert counters == expected
    owners = {pod: [i for i, url in enumerate(urls) if pod in shard_union([url])[0]] for pod in expected}
    assert all(len(shards) == 1 for shards in owners.values()), owners
    with capsys.disabled():
        print(
            f"\nreplicas/counters: {expected} on shards {owners}; {len(refused)} of {len(answers)} racing "
            f"POSTs refused (503); wall {time.monotonic() - began:.1f} s"
        )
