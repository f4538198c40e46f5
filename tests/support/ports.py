"""Free ports for the servers the tests start (etcd, Prometheus, the exporter, fakes).

Picked below the kernel's ephemeral range: every client connection on the machine takes its local
port from that range (a fleet posting with `Connection: close` takes thousands), so a port the
kernel hands out there can be taken by a client before our server binds it.

Each pytest-xdist worker takes its ports from a slice of that span of its own, in turn. Probing
that a port is free and the server binding it are two steps: with every worker drawing at random
from the whole span, two workers once picked the same port between those steps, the second etcd
failed to bind, and its health probe, answered by the first worker's etcd, let two tests share
one store. Disjoint slices rule that out; taking them in turn keeps a worker from handing out a
port it has just released.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
SPAN = 12_000
"""How far below the ephemeral range to pick (from 20768 with Linux's default range)."""


def worker_slice(low: int, worker: str | None, workers: str | None) -> range:
    """The ports below `low` that this process may take: all of the span outside xdist, else
    the worker's share (worker "gw3" of 8 takes the fourth eighth)."""
    span = range(max(1024, low - SPAN), low)
    if not worker or not worker.startswith("gw") or not workers:
        return span
    index, count = int(worker[2:]), max(1, int(workers))
    width = len(span) // count
    start = span.start + (index % count) * width
    return range(start, start + width)


@functools.cache
def _candidates() -> Iterator[int]:
    low = int(EPHEMERAL_PORTS.read_text().split()[0])
    ports = worker_slice(
        low, os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    )
    offset = random.randrange(len(ports))
    return itertools.cycle([*ports[offset:], *ports[:offset]])


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing is bound to on `host` right now, from this worker's own slice (the next in
    turn that binds)."""
    candidates = _candidates()
    while True:
        port = next(candidates)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
