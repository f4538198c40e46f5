"""After a write hangs, find the member that leads before writing again.

A follower forwards our write to the leader it knows. When that leader froze or died, the write
waits out the attempt's timeout, and so does the next follower's until the members have elected a
new leader. Each member answers Status from its own state in milliseconds, leader or not, and says
whom it follows; so instead of trying the members in turn we ask them until one says it leads, and
write there (docs/etcd.md, "An etcd cluster").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from netchecker_exporter.store import etcd_rpc as etcdrpc
from netchecker_exporter.store.etcd_rpc import Stubs

STATUS_TIMEOUT_SECONDS = 0.25
"""A member that does not say whom it follows within this is frozen or far away: not the leader.
The members are asked at once, so a frozen one costs a round this, not this per member."""
POLL_INTERVAL_SECONDS = 0.05
SEARCH_SECONDS = 3.0
"""How long to ask: an election, at etcd's default election timeout of 1 s randomized up to 2 s,
plus the vote. Past it (say the leader is alive but we cannot reach it, while the others can) the
caller goes back to trying the members in turn, and a follower forwards for us."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What one member said about the cluster's leadership."""

    member_id: int
    leader_id: int
    """0 while the member has no leader (an election, or cut off from a quorum)."""
    raft_term: int

    @property
    def leads(self) -> bool:
        return self.leader_id != 0 and self.leader_id == self.member_id


def leading(claims: Sequence[Claim | None]) -> int | None:
    """The index of the member that says it leads, in the newest term (a leader cut off from the
    others still says so, in an older term, until it steps down); None while none does."""
    leaders = [
        (claim.raft_term, index) for index, claim in enumerate(claims) if claim is not None and claim.leads
    ]
    return max(leaders)[1] if leaders else None


def ask_all(members: Sequence[Stubs]) -> list[Claim | None]:
    """Every member's own view of who leads, asked at once; None for one that does not answer."""
    calls = [
        m.maintenance.Status.future(etcdrpc.StatusRequest(), timeout=STATUS_TIMEOUT_SECONDS) for m in members
    ]
    return [_claim(call) for call in calls]


def _claim(call: Any) -> Claim | None:
    try:
        status = call.result()
    except grpc.RpcError:
        return None
    return Claim(status.header.member_id, status.leader, status.raftTerm)


def find_leader(  # noqa: PLR0913 (keyword-only: the fakes a test gives)
    members: Sequence[Stubs],
    until: float,
    *,
    failed: int | None = None,
    ask_all: Callable[[Sequence[Stubs]], Sequence[Claim | None]] = ask_all,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int | None:
    """Ask every member, again and again until `until`, which one leads; its index, or None.

    The member whose write just hung (`failed`) may say it leads and still not commit: cut off from
    the others, it says so until it steps down. In the term it claimed when first asked, it is the
    answer only when, at `until`, nobody else says so (a leader that is merely slow)."""
    claims = ask_all(members)
    stale_term = _led_term(claims[failed]) if failed is not None else -1
    while True:
        found = leading(claims)
        fresh = found is not None and (found != failed or _led_term(claims[found]) > stale_term)
        if fresh or clock() + POLL_INTERVAL_SECONDS >= until:
            return found
        sleep(POLL_INTERVAL_SECONDS)
        claims = ask_all(members)


def _led_term(claim: Claim | None) -> int:
    """The term in which the member says it leads; -1 when it does not say so."""
    return claim.raft_term if claim is not None and claim.leads else -1
