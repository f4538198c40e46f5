"""TCP proxies of our own in front of etcd members' peer URLs, so a test can cut one member off.

Every member advertises its proxy's port as its peer URL, so all raft traffic between members
passes here. On loopback every connection comes from 127.0.0.1, so the proxy asks the kernel who
dialed (sock_diag for the other end's inode, /proc/<pid>/fd for its owner) to know both ends of
each link.
Cutting a member drops the bytes of its open links both ways (as a broken network does: nothing
arrives, nothing is refused) and refuses its new links; its client URL is not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from tests.support.ports import free_port

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 64 * 1024


NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, NLMSG_ERROR = 4, 20, 1, 2
NO_COOKIE = 0xFFFFFFFF
INODE_OFFSET = 16 + 4 + 48 + 16
"""In the reply: nlmsghdr, then inet_diag_msg's family/state/timer/retrans, its socket id, then
expires, rqueue, wqueue and uid before the inode (linux/inet_diag.h)."""


def socket_inode(local_port: int, remote_port: int) -> int:
    """The inode of the loopback TCP socket from `local_port` to `remote_port`, 0 when there is none.

    One exact sock_diag lookup over netlink, as `ss` does: reading /proc/net/tcp instead walks every
    socket on the machine (tens of thousands of TIME_WAITs while a benchmark runs), which took seconds.
    """
    loopback = socket.inet_aton(LOOPBACK) + bytes(12)
    socket_id = struct.pack("!HH", local_port, remote_port) + loopback + loopback
    socket_id += struct.pack("=III", 0, NO_COOKIE, NO_COOKIE)  # any interface; no cookie: look it up
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + socket_id
    header = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as diag:
        diag.sendto(header + request, (0, 0))
        reply = diag.recv(65536)
    _, kind = struct.unpack_from("=IH", reply)
    if kind == NLMSG_ERROR:  # ENOENT: the dialer closed it already
        return 0
    inode: int = struct.unpack_from("=I", reply, INODE_OFFSET)[0]
    return inode


def owns_socket(pid: int, inode: int) -> bool:
    target = f"socket:[{inode}]"
    with contextlib.suppress(OSError):  # the process ended meanwhile: it owns nothing
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(fd.path) == target:
                    return True
    return False


@dataclass(eq=False)
class Link:
    """One proxied connection: the member that dialed, and the member it reaches."""

    source: str
    target: str
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    dropping: bool = False

    def touches(self, name: str) -> bool:
        return name in (self.source, self.target)


class PeerProxies:
    """One listening proxy per member, all on one asyncio loop in a thread of their own."""

    def __init__(self, pid_of: Callable[[str], int | None]) -> None:
        self._pid_of = pid_of
        self._targets: dict[str, int] = {}
        self.ports: dict[str, int] = {}
        self._cut: set[str] = set()
        self.unidentified: list[str] = []
        """Open links that no member dialed (refused): a test wants none, or its cut could leak."""
        self._links: set[Link] = set()
        self._servers: list[asyncio.Server] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="peer-proxies", daemon=True)
        self._thread.start()

    def add(self, name: str, target_port: int) -> int:
        """A proxy for member `name` (listening on `target_port`); returns the port to advertise."""
        port = free_port()
        self._targets[name], self.ports[name] = target_port, port
        self._call(self._listen(name, port))
        return port

    def cut(self, name: str) -> None:
        """Drop `name`'s peer traffic both ways from now on, and refuse its new connections."""
        self._call(self._cut_off(name))

    def heal(self, name: str) -> None:
        """Let `name` talk again; its links that lost bytes are closed, so raft dials afresh."""
        self._call(self._heal(name))

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, step: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(step, self._loop).result(timeout=10)

    async def _listen(self, name: str, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(name, reader, writer)

        self._servers.append(await asyncio.start_server(accept, LOOPBACK, port))

    async def _serve(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, source_port = writer.get_extra_info("peername")
        inode = socket_inode(source_port, self.ports[target])
        source = self._dialer(inode)
        if inode and source is None:
            self.unidentified.append(f"{source_port} -> {target}")
        if inode == 0 or target in self._cut or source in self._cut or source is None:
            writer.close()  # refused (or its dialer gave up already): raft sees the dial fail
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self._targets[target])
        except OSError:  # the member is down: so is the link
            writer.close()
            return
        link = Link(source, target, [writer, up_writer])
        self._links.add(link)
        try:
            await asyncio.gather(self._pump(link, reader, up_writer), self._pump(link, up_reader, writer))
        finally:
            self._links.discard(link)
            for end in link.writers:
                end.close()

    async def _pump(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(CHUNK_BYTES):
                if not link.dropping:  # cut: read and forget, so the sender sees no error
                    writer.write(chunk)
                    await writer.drain()
        for end in link.writers:  # one side ended: end the other, as a plain TCP path would
            end.close()

    def _dialer(self, inode: int) -> str | None:
        if inode == 0:
            return None
        for name in self._targets:
            pid = self._pid_of(name)
            if pid is not None and owns_socket(pid, inode):
                return name
        return None

    async def _cut_off(self, name: str) -> None:
        self._cut.add(name)
        for link in self._links:
            if link.touches(name):
                link.dropping = True

    async def _heal(self, name: str) -> None:
        self._cut.discard(name)
        for link in list(self._links):
            if link.dropping and not (link.source in self._cut or link.target in self._cut):
                for end in link.writers:
                    end.close()

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for link in list(self._links):
            for end in link.writers:
                end.close()
        for server in self._servers:
            await server.wait_closed()
