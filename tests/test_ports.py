"""The test ports: xdist workers draw from disjoint slices, so two workers' servers never race
for one port (once two etcds did, and two tests shared a store)."""

from __future__ import annotations

import socket

from tests.support.ports import free_port, worker_slice


def test_each_worker_takes_a_slice_of_its_own_and_together_they_stay_below_the_ephemeral_range() -> None:
    slices = [worker_slice(32768, f"gw{index}", "8") for index in range(8)]
    taken = [set(ports) for ports in slices]
    assert all(len(ports) == 1500 for ports in taken)
    assert all(not (a & b) for i, a in enumerate(taken) for b in taken[i + 1 :])
    assert min(map(min, taken)) >= 32768 - 12_000 and max(map(max, taken)) < 32768


def test_outside_xdist_the_whole_span_is_used() -> None:
    assert worker_slice(32768, None, None) == range(20768, 32768)
    assert worker_slice(2000, "gw0", "2") == range(1024, 1512)


def test_ports_come_in_turn_and_are_free_to_bind() -> None:
    first, second = free_port(), free_port()
    assert first != second
    with socket.socket() as server:
        server.bind(("127.0.0.1", second))
