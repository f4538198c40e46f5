"""The flag table and Go's `flag` syntax: every setting's name, type, default and help, argv to
strings, and strings (or YAML values) to typed values, as Go's flag package reads them.

Pure. settings.py merges the sources and validates; this module only knows the flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netchecker_exporter.stored_fields import DEFAULT_MAX_STORED_FIELD_BYTES

ENV_PREFIX = "NETCHECKER_"
DEFAULT_AGENT_SELECTOR = "app in (netchecker-agent,netchecker-agent-hostnet)"
INGEST_THREADS = 48
"""The front's threads for POSTs. Each report holds one until its etcd Txn commits, so they bound how
many reports a group commit batches (docs/etcd.md); -max-pending-writes defaults to all of them, as
liveness needs no spare ingest thread (/healthz, /readyz and /metrics have threads of their own)."""


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    kind: type
    default: Any
    group: str
    help: str


FLAGS: tuple[Flag, ...] = (
    Flag("endpoint", str, "0.0.0.0:8081", "Server", "listen address host:port"),
    Flag("check-interval", float, 10.0, "Server", "seconds between reconcile passes"),
    Flag("report-ttl", int, 300, "Server", "seconds a stored report lives"),
    Flag(
        "shutdown-delay",
        float,
        0.0,
        "Server",
        "seconds it keeps serving after SIGTERM with /readyz 503, so a rolling restart refuses no "
        "connection while the endpoints catch up; 0: stop at once",
    ),
    Flag("max-report-bytes", int, 1_048_576, "Server", "largest accepted report body (413 above)"),
    Flag("config", str, "", "Server", "YAML file with any of these flags as keys"),
    Flag("etcd-endpoints", str, "", "Store (etcd)", "comma-separated etcd URLs; empty: in memory"),
    Flag("etcd-tree", str, "netchecker", "Store (etcd)", "root of our keys in etcd"),
    Flag("etcd-ca", str, "", "Store (etcd)", "CA bundle that verifies etcd's certificate"),
    Flag("etcd-cert", str, "", "Store (etcd)", "client certificate for etcd"),
    Flag("etcd-key", str, "", "Store (etcd)", "client key for etcd"),
    Flag(
        "etcd-compact-interval",
        float,
        300.0,
        "Store (etcd)",
        "seconds between compactions of etcd's history, keeping one interval; 0: never "
        "(for an etcd shared with software that compacts it)",
    ),
    Flag("ping-timeout", float, 5.0, "Store (etcd)", "seconds to wait for etcd, per call"),
    Flag(
        "kubeproxyinit",
        bool,
        False,
        "Store (etcd)",
        "keep records in the Kubernetes API (not supported; accepted as false)",
    ),
    Flag("pods-file", str, "", "Pods", "YAML list of expected agents (pod source 'static')"),
    Flag("kubeconfig", str, "", "Pods", "kubeconfig file (default: $KUBECONFIG, then in-cluster)"),
    Flag("namespace", str, "", "Pods", "only watch agent pods in this namespace (default: all)"),
    Flag("agent-selector", str, DEFAULT_AGENT_SELECTOR, "Pods", "label selector of agent pods"),
    Flag(
        "startup-grace", float, 120.0, "Pods", "seconds a new pod may stay silent before it is called absent"
    ),
    Flag("max-probes-per-report", int, 32, "Limits", "probes one report may list (400 above)"),
    Flag("max-agents", int, 12_000, "Limits", "agents stored at once; a new name beyond it gets 429"),
    Flag(
        "max-unlisted-agents",
        int,
        500,
        "Limits",
        "agents stored at once that the pod source does not list (yet), apart from -max-agents",
    ),
    Flag(
        "max-metrics-bytes",
        int,
        256 * 1024 * 1024,
        "Limits",
        "bytes of /metrics the stored agents may make at once, as estimated at ingest; a report "
        "beyond it gets 429",
    ),
    Flag(
        "max-stored-field-bytes",
        int,
        DEFAULT_MAX_STORED_FIELD_BYTES,
        "Limits",
        "bytes (as compact JSON) kept of a report's ips, and of its nslookup; beyond it the largest "
        "entries keep a prefix, marked truncated, never refused (on etcd also at most what fits "
        "one agent's share of the store)",
    ),
    Flag(
        "max-pending-writes",
        int,
        INGEST_THREADS,
        "Limits",
        "reports waiting on the etcd store at once; one more gets 503 at once (keeps workers free)",
    ),
    Flag(
        "max-connections",
        int,
        8192,
        "HTTP front",
        "client connections held at once; a request on one more gets 503 and is closed (probes "
        "keep a reserve of 64)",
    ),
    Flag(
        "max-connections-per-client",
        int,
        1024,
        "HTTP front",
        "connections one source address may hold of -max-connections",
    ),
    Flag(
        "max-inflight-bytes",
        int,
        64 * 1024 * 1024,
        "HTTP front",
        "bytes of request bodies being received at once, reserved by their declared length, and "
        "held by large responses being sent; a body beyond it gets 503 unread",
    ),
    Flag(
        "max-heavy-reads",
        int,
        4,
        "HTTP front",
        "GETs of /metrics, /api/v1/agents/, /api/v1/diagnosis and / in progress at once; "
        "one more gets 503 with Retry-After",
    ),
    Flag(
        "max-head-bytes",
        int,
        16 * 1024,
        "HTTP front",
        "largest request head (request line and headers; 8192 .. 1048576)",
    ),
    Flag("v", int, 0, "Logging (glog compatible)", "verbosity: 0 info, 1+ debug"),
    Flag("logtostderr", bool, False, "Logging (glog compatible)", "accepted; logs go to stderr"),
    Flag("alsologtostderr", bool, False, "Logging (glog compatible)", "accepted; no effect"),
    Flag("stderrthreshold", str, "", "Logging (glog compatible)", "accepted; no effect"),
    Flag("log_dir", str, "", "Logging (glog compatible)", "accepted; no effect"),
    Flag(
        "clock-skew-threshold",
        float,
        30.0,
        "Diagnosis",
        "seconds between an agent's clock and ours that count as skew",
    ),
    Flag(
        "reboot-window",
        float,
        900.0,
        "Diagnosis",
        "seconds a node counts as recently rebooted after it booted",
    ),
    Flag(
        "cluster-pattern-ratio",
        float,
        0.5,
        "Diagnosis",
        "share of judged nodes with one verdict that makes it cluster-wide",
    ),
    Flag(
        "runbook-url",
        str,
        "",
        "Diagnosis",
        "runbook the status page links to (default: the server's /runbook)",
    ),
    Flag(
        "flap-transitions",
        int,
        4,
        "Diagnosis",
        "changes between healthy and a problem (either way) within -flap-window that make a node 'flapping'",
    ),
    Flag("flap-window", float, 900.0, "Diagnosis", "seconds over which -flap-transitions are counted"),
    Flag(
        "history-length", int, 32, "Diagnosis", "verdict changes kept per node (its agents': twice as many)"
    ),
    Flag(
        "history-max-transitions",
        int,
        50_000,
        "Diagnosis",
        "changes kept for all nodes together; the oldest go first",
    ),
    Flag(
        "legacy-metrics",
        bool,
        True,
        "Metrics",
        "also export the original's ncagent_* families (dashboards out there use them); "
        "false: only netchecker_*",
    ),
    Flag(
        "total-shards",
        int,
        1,
        "Metrics",
        "replicas that split the per-agent, per-node and per-target series of /metrics between them "
        "(kube-state-metrics' sharding); 1: not sharded",
    ),
    Flag("shard", int, 0, "Metrics", "this replica's shard, from 0 to -total-shards - 1"),
    Flag(
        "pod",
        str,
        "",
        "Metrics",
        "this replica's StatefulSet pod name (e.g. $(POD_NAME)): its ordinal -N is the shard; "
        "takes the place of -shard (read only when -total-shards is above 1)",
    ),
    Flag("events", bool, True, "Kubernetes writes", "write a Kubernetes Event when a node's verdict changes"),
    Flag(
        "node-conditions",
        bool,
        False,
        "Kubernetes writes",
        "set Netchecker* conditions on Nodes (needs config/kubernetes/node-conditions RBAC)",
    ),
    Flag(
        "node-conditions-heartbeat",
        float,
        300.0,
        "Kubernetes writes",
        "seconds between rewrites of unchanged conditions (lastHeartbeatTime); at least 60",
    ),
    Flag(
        "lease-namespace",
        str,
        "",
        "Kubernetes writes",
        "namespace of the Lease that elects the one writer (default: our pod's, else -namespace, "
        "else 'default')",
    ),
)


FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}


def default(name: str) -> Any:
    """Flag `name`'s default; the settings' dataclasses take theirs from here, so each is written once."""
    return FLAGS_BY_NAME[name].default


HELP_FLAGS = {"h", "help"}


class HelpRequestedError(Exception):
    """-h / -help was given: print format_help() and exit 0."""


def parse_flags(argv: Sequence[str], problems: list[str]) -> dict[str, str]:
    """Go `flag` syntax: -name=value, --name=value, -name value, bare -name for booleans.

    Problems are appended to `problems` so they are reported with every other one.
    """
    values: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            problems += [f"unexpected argument {a!r}" for a in args]
            break
        if not arg.startswith("-") or arg in {"-", "---"} or arg.startswith("---"):
            problems.append(f"unexpected argument {arg!r} (flags start with - or --)")
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in HELP_FLAGS:
            raise HelpRequestedError
        flag = FLAGS_BY_NAME.get(name)
        if flag is None:
            problems.append(f"unknown flag -{name}")
        elif has_value:
            values[name] = value
        elif flag.kind is bool:
            values[name] = "true"
        elif args:
            values[name] = args.pop(0)
        else:
            problems.append(f"flag -{name} needs a value")
    return values


def env_var_name(flag_name: str) -> str:
    return ENV_PREFIX + flag_name.upper().replace("-", "_")


_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def convert_flag_value(flag: Flag, sourced: tuple[str, Any] | None, problems: list[str]) -> Any:
    """Turn a string (flag, env) or YAML value into the flag's type, as Go's flag package would."""
    if sourced is None:
        return flag.default
    source, value = sourced
    if isinstance(value, list) and flag.kind is str:
        value = ",".join(str(item) for item in value)
    try:
        return _convert_value(flag.kind, value)
    except ValueError:
        problems.append(f"{source} -{flag.name}: {value!r} is not {_KIND_WORDS[flag.kind]}")
        return flag.default


_KIND_WORDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _convert_value(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value) in _TRUE | _FALSE:
            return str(value) in _TRUE
        raise ValueError(value)
    if isinstance(value, bool) or (kind is str and not isinstance(value, str | int | float)):
        raise ValueError(value)
    if kind is int and isinstance(value, float):
        raise ValueError(value)
    return kind(value)


def format_help(program: str) -> str:
    """Grouped flag help, in Go's `-name value` style."""
    lines = [f"Usage: {program} [flags]", "", "Flags may be -name=value, -name value or --name=value."]
    for group in dict.fromkeys(flag.group for flag in FLAGS):
        lines += ["", f"{group}:"]
        for flag in (f for f in FLAGS if f.group == group):
            default = f" (default {flag.default!r})" if flag.default not in ("", False) else ""
            lines.append(f"  -{flag.name:<18} {flag.help}{default}  [${env_var_name(flag.name)}]")
    return "\n".join(lines) + "\n"
