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

import grpc

from netchecker_exporter.store import etcd_rpc as etcdrpc
from netchecker_exporter.store.etcd_rpc import Stubs

STATUS_TIMEOUT_SECONDS = 0.1
"""A member that does not say whom it follows within this is frozen or far away: not the leader."""
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


def ask(stubs: Stubs) -> Claim | None:
    """The member's own view of who leads, or None when it does not answer at once."""
    try:
        status = stubs.maintenance.Status(etcdrpc.StatusRequest(), timeout=STATUS_TIMEOUT_SECONDS)
    except grpc.RpcError:
        return None
    return Claim(status.header.member_id, status.leader, status.raftTerm)


def find_leader(
    members: Sequence[Stubs],
    until: float,
    ask: Callable[[Stubs], Claim | None] = ask,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int | None:
    """Ask every member, again and again until `until`, which one leads; its index, or None."""
    while True:
        found = leading([ask(member) for member in members])
        if found is not None or clock() + POLL_INTERVAL_SECONDS >= until:
            return found
        sleep(POLL_INTERVAL_SECONDS)
