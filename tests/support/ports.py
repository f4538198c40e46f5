"""Free ports for the servers the tests start (etcd, Prometheus, the exporter, fakes).

Picked below the kernel's ephemeral range: every client connection on the machine takes its local
port from that range (a fleet posting with `Connection: close` takes thousands), so a port the
kernel hands out there can be taken by a client before our server binds it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
SPAN = 12_000
"""How far below the ephemeral range to pick (from 20768 with Linux's default range)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing is bound to on `host` right now, below the ephemeral range (a tiny race with
    another test picking the same one is accepted: 12,000 to choose from)."""
    low = int(EPHEMERAL_PORTS.read_text().split()[0])
    while True:
        port = random.randrange(max(1024, low - SPAN), low)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
