"""An etcd cluster whose members reach each other only through PeerProxies (e2e/peer_proxy.py).

Each member listens for peers on its own port and advertises its proxy's, so raft dials the
proxies; clients (the server, etcdctl) use the client URLs directly, which a cut leaves alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e.peer_proxy import PeerProxies
from tests.support.etcd import EtcdProcess


class ProxiedMember(EtcdProcess):
    """A member that advertises `advertised_peer_url` (its proxy) and listens on its own peer port."""

    advertised_peer_url = ""

    def command(self) -> list[str]:
        advertise = "--initial-advertise-peer-urls="
        own = f"{advertise}{self.advertised_peer_url}"
        return [own if arg.startswith(advertise) else arg for arg in super().command()]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self.running else None

    def leader_id(self) -> int:
        """The leader this member knows of, 0 for none (etcdctl leaves a zero out of its JSON)."""
        status = json.loads(self.etcdctl("endpoint", "status", "--write-out=json"))[0]["Status"]
        return int(status.get("leader", 0))

    def local_revision(self) -> int:
        """The revision this member has applied, read without asking the leader (serializable)."""
        reply = json.loads(self.etcdctl("get", "--consistency=s", "--write-out=json", "/"))
        return int(reply["header"]["revision"])


def make_proxied_cluster(data_dir: Path, size: int) -> tuple[list[ProxiedMember], PeerProxies]:
    """`size` members behind one proxy each, started and healthy."""
    members = [ProxiedMember(data_dir, name=f"member{i}") for i in range(size)]
    by_name = {m.name: m for m in members}
    proxies = PeerProxies(lambda name: by_name[name].pid)
    for member in members:
        port = proxies.add(member.name, member.peer_port)
        member.advertised_peer_url = f"http://127.0.0.1:{port}"
    initial = ",".join(f"{m.name}={m.advertised_peer_url}" for m in members)
    for member in members:
        member.initial_cluster = initial
        member.start(wait=False)
    for member in members:
        member.wait_healthy()
    return members, proxies
