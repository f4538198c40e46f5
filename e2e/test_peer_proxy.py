"""The partition proxy itself (e2e/peer_proxy.py), with this process as the dialing member: it
forwards, tells who dialed, drops a cut member's bytes both ways, refuses its new links, heals."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from e2e.peer_proxy import PeerProxies


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxies(echo_port: int) -> Iterator[PeerProxies]:
    """Member "here" is this process; member "there" is the echo server behind its proxy. (The proxy
    knows the members by their proxies, so "here" has one too, unused.)"""
    proxies = PeerProxies(lambda name: os.getpid() if name == "here" else None)
    proxies.add("here", echo_port)
    yield proxies
    proxies.close()


def dial(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=1)


def echoes(link: socket.socket) -> bool:
    """True when a ping comes back; False when nothing does within the timeout or the link closed."""
    try:
        link.sendall(b"ping")
        return link.recv(4) == b"ping"
    except (TimeoutError, OSError):
        return False


def test_a_link_from_a_member_is_forwarded(proxies: PeerProxies, echo_port: int) -> None:
    port = proxies.add("there", echo_port)
    with dial(port) as link:
        assert echoes(link)
    assert not proxies.unidentified


def test_a_cut_member_s_links_go_silent_and_new_ones_are_refused(
    proxies: PeerProxies, echo_port: int
) -> None:
    port = proxies.add("there", echo_port)
    with dial(port) as old:
        assert echoes(old)
        proxies.cut("here")
        assert not echoes(old)  # dropped: no answer, and no error either
        with dial(port) as new:
            assert new.recv(4) == b""  # refused: closed at once
        proxies.heal("here")
        assert old.recv(4) == b""  # the link that lost bytes is closed at the heal
    with dial(port) as healed:
        assert echoes(healed)


def test_cutting_the_target_cuts_its_links_too(proxies: PeerProxies, echo_port: int) -> None:
    port = proxies.add("there", echo_port)
    with dial(port) as link:
        assert echoes(link)
        proxies.cut("there")
        assert not echoes(link)


def test_a_link_no_member_dialed_is_refused_and_named(echo_port: int) -> None:
    proxies = PeerProxies(lambda name: None)
    try:
        port = proxies.add("there", echo_port)
        with dial(port) as link:
            assert link.recv(4) == b""
        assert len(proxies.unidentified) == 1
    finally:
        proxies.close()
