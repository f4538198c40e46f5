"""gRPC channels to the etcd endpoints: TLS from the -etcd-* files, failover between endpoints.

TLS is used for https:// endpoints and whenever a CA or client certificate is given; the
server is always verified (by -etcd-ca, or by the system's roots when it is not given).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import grpc

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.settings import EtcdSettings

log = logging.getLogger(__name__)
S = TypeVar("S")
DEFAULT_ETCD_PORT = 2379
SWITCH_WARNING_INTERVAL_SECONDS = 30.0
GRPC_OPTIONS = (
    # A listing is paged, but a watch that resumes after a break may get a large backlog.
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # Notice a silently dead peer; etcd's --grpc-keepalive-min-time (5 s) allows 10 s pings.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # gRPC's default reconnect backoff grows to 120 s: far too slow to notice etcd is back.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
)


REQUIRE_LEADER = (("hasleader", "true"),)
"""gRPC metadata: a member without a leader answers at once (UNAVAILABLE "no leader", so the caller
fails over) instead of queueing the call through an election."""

TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "UNKNOWN"})
NO_SPACE = "database space exceeded"
"""etcd's ErrNoSpace (RESOURCE_EXHAUSTED): no retry, every write fails until the alarm is disarmed."""


REQUEST_TOO_LARGE = ("request is too large", "larger than max")
"""etcd's ErrRequestTooLarge (over --max-request-bytes), and gRPC's refusal of a message over etcd's
receive limit (--max-request-bytes + 512 KiB; RESOURCE_EXHAUSTED): the same request fails again."""


def is_transient(error: BaseException) -> bool:
    """Worth retrying, on this endpoint or the next: etcd unreachable, slow, or our lease expired."""
    if not isinstance(error, grpc.RpcError):
        return False
    code = error.code().name
    detail = describe_rpc_error(error)
    permanent = NO_SPACE in detail or is_request_too_large(error)
    return (code in TRANSIENT_CODES and not permanent) or "lease not found" in detail


def is_request_too_large(error: BaseException | None) -> bool:
    """etcd (or gRPC in front of it) refused the request for its size: retrying cannot help."""
    if not isinstance(error, grpc.RpcError):
        return False
    detail = describe_rpc_error(error)
    return any(marker in detail for marker in REQUEST_TOO_LARGE)


def is_no_space(error: BaseException) -> bool:
    return isinstance(error, grpc.RpcError) and NO_SPACE in describe_rpc_error(error)


def describe_rpc_error(error: Any) -> str:
    try:
        return f"{error.code().name}: {error.details()}"
    except AttributeError:
        return str(error)


def grpc_target(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or DEFAULT_ETCD_PORT}"


def _read(path: str, flag: str, problems: list[str]) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        problems.append(f"-{flag} {path}: cannot read: {error.strerror or error}")
        return None


def _credentials(settings: EtcdSettings) -> Any:
    problems: list[str] = []
    ca = _read(settings.ca_file, "etcd-ca", problems) if settings.ca_file else None
    cert = _read(settings.cert_file, "etcd-cert", problems) if settings.cert_file else None
    key = _read(settings.key_file, "etcd-key", problems) if settings.key_file else None
    if problems:
        raise ConfigError(problems)
    # root_certificates=None makes gRPC verify against its default roots; never "insecure".
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def open_channel(endpoint: str, settings: EtcdSettings) -> Any:
    tls = urlsplit(endpoint).scheme == "https" or bool(settings.ca_file or settings.cert_file)
    if tls:
        return grpc.secure_channel(grpc_target(endpoint), _credentials(settings), options=GRPC_OPTIONS)
    return grpc.insecure_channel(grpc_target(endpoint), options=GRPC_OPTIONS)


def next_endpoint(hung_at: Sequence[float], leaderless_at: Sequence[float], current: int) -> int:
    """The endpoint that hung or failed to connect longest ago (never: first); then the one that said
    "no leader" longest ago, which an election soon mends; then the one after `current`."""
    count = len(hung_at)
    return min(range(count), key=lambda i: (hung_at[i], leaderless_at[i], (i - current - 1) % count))


def says_no_leader(error: BaseException) -> bool:
    """etcd's ErrGRPCNoLeader: the member is alive but has no leader (an election, or a partition)."""
    return isinstance(error, grpc.RpcError) and "no leader" in describe_rpc_error(error)


class Endpoints(Generic[S]):
    """One lazily connecting channel per endpoint; callers use the current one and report
    failures, which moves everyone on to the endpoint that failed longest ago (a hung member is
    not tried again while another has not failed lately)."""

    def __init__(self, settings: EtcdSettings, make_stubs: Callable[[Any], S]) -> None:
        if not settings.endpoints:
            raise ConfigError(["-etcd-endpoints is empty: the etcd store needs at least one URL"])
        self._names = settings.endpoints
        self._channels = [open_channel(endpoint, settings) for endpoint in settings.endpoints]
        self._stubs = [make_stubs(channel) for channel in self._channels]
        self._hung_at = [-math.inf] * len(self._stubs)
        self._leaderless_at = [-math.inf] * len(self._stubs)
        self._index = 0
        self._last_warning = {"failover": -math.inf, "leader": -math.inf}
        self._lock = threading.Lock()

    def current(self) -> S:
        with self._lock:
            return self._stubs[self._index]

    def failed(self, stubs: S, error: BaseException) -> None:
        """`stubs` just failed with `error`: switch endpoints, unless someone already did."""
        with self._lock:
            if len(self._stubs) == 1 or self._stubs[self._index] is not stubs:
                return
            now = time.monotonic()
            (self._leaderless_at if says_no_leader(error) else self._hung_at)[self._index] = now
            self._index = next_endpoint(self._hung_at, self._leaderless_at, self._index)
            level, name = self._switch_level("failover", now), self._names[self._index]
        log.log(level, "etcd store: switching to endpoint %s", name)

    def members(self) -> Sequence[S]:
        return self._stubs

    def use(self, index: int) -> None:
        """Move everyone to endpoint `index`: it says it leads (store/etcd_leader.py)."""
        with self._lock:
            if index == self._index:
                return
            self._index = index
            level = self._switch_level("leader", time.monotonic())
        log.log(level, "etcd store: %s leads; writing there", self._names[index])

    def _switch_level(self, kind: str, now: float) -> int:
        """While every endpoint is down we cycle fast; one line of each kind per interval says it
        all (lock held)."""
        if now - self._last_warning[kind] < SWITCH_WARNING_INTERVAL_SECONDS:
            return logging.DEBUG
        self._last_warning[kind] = now
        return logging.WARNING

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
