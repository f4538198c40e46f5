"""Configuration: Go-style flags > NETCHECKER_* environment > YAML file > defaults -> Settings.

Pure: the caller hands in argv, the environment and a file reader. Every problem is collected
into one ConfigError so an operator fixes them in one go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.flags import (
    DEFAULT_AGENT_SELECTOR,
    FLAGS,
    FLAGS_BY_NAME,
    convert_flag_value,
    default,
    env_var_name,
    parse_flags,
)
from netchecker_exporter.report import MAX_PROBES_LIMIT
from netchecker_exporter.stored_fields import MAX_STORED_FIELD_BYTES_LIMIT


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    endpoints: tuple[str, ...]
    tree: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    ping_timeout_seconds: float
    compact_interval_seconds: float = default("etcd-compact-interval")
    """0 disables compaction: compacting is etcd-wide, so a shared etcd may want its own policy."""


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    kubeconfig: str | None
    namespace: str | None
    agent_selector: str
    startup_grace_seconds: float


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    legacy_metrics: bool = default("legacy-metrics")
    shard: int = default("shard")
    """-shard, or -pod's ordinal: which of -total-shards this replica exports (docs/scaling.md)."""
    total_shards: int = default("total-shards")


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Bounds on what clients may make the server keep (docs/limits.md)."""

    max_probes_per_report: int = default("max-probes-per-report")
    max_agents: int = default("max-agents")
    max_unlisted_agents: int = default("max-unlisted-agents")
    max_pending_writes: int = default("max-pending-writes")
    max_metrics_bytes: int = default("max-metrics-bytes")
    """What the stored agents' series may add up to in /metrics (store/metrics_budget.py)."""
    max_stored_field_bytes: int = default("max-stored-field-bytes")
    """What a record keeps of `ips` and of `nslookup` (stored_fields.py)."""


@dataclass(frozen=True, slots=True)
class FrontLimitSettings:
    """What all clients together may make the HTTP front hold (docs/limits.md)."""

    max_connections: int = default("max-connections")
    max_connections_per_client: int = default("max-connections-per-client")
    max_inflight_bytes: int = default("max-inflight-bytes")
    max_heavy_reads: int = default("max-heavy-reads")
    max_head_bytes: int = default("max-head-bytes")


MIN_HEAD_BYTES, MAX_HEAD_BYTES = 8192, 1024 * 1024
"""hyper's smallest read buffer, and a generous top (its default is 400 KB)."""


@dataclass(frozen=True, slots=True)
class DiagnosisSettings:
    """Thresholds of the per-node diagnosis (diagnosis/nodes.py)."""

    clock_skew_threshold_seconds: float = default("clock-skew-threshold")
    reboot_window_seconds: float = default("reboot-window")
    cluster_pattern_ratio: float = default("cluster-pattern-ratio")
    cluster_pattern_min_nodes: int = 3
    """Fewer judged nodes than this never make a cluster-wide pattern: 2 of 2 is not 'everywhere'."""
    runbook_url: str = default("runbook-url")
    flap_transitions: int = default("flap-transitions")
    """Changes between healthy and a problem (either way) within the window that make a node
    `flapping` (diagnosis/flapping.py): one outage and its recovery are 2, so 4 takes two."""
    flap_window_seconds: float = default("flap-window")
    history_per_node: int = default("history-length")
    history_max_transitions: int = default("history-max-transitions")


@dataclass(frozen=True, slots=True)
class KubeWriteSettings:
    """Events and Node conditions (docs/events.md)."""

    events: bool = default("events")
    node_conditions: bool = default("node-conditions")
    node_conditions_heartbeat_seconds: float = default("node-conditions-heartbeat")
    lease_namespace: str = default("lease-namespace")


MIN_HEARTBEAT_SECONDS = 60.0
MAX_TOTAL_SHARDS = 1024
_ORDINAL = re.compile(r"-(0|[1-9][0-9]{0,8})$")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class Settings:
    listen_host: str
    listen_port: int
    check_interval_seconds: float
    report_ttl_seconds: int
    max_report_bytes: int
    pods_file: str | None
    config_file: str | None
    etcd: EtcdSettings
    kubernetes: KubernetesSettings
    verbosity: int
    shutdown_delay_seconds: float = 0.0
    limits: LimitSettings = LimitSettings()
    diagnosis: DiagnosisSettings = DiagnosisSettings()
    metrics: MetricsSettings = MetricsSettings()
    front: FrontLimitSettings = FrontLimitSettings()
    kube_writes: KubeWriteSettings = KubeWriteSettings()

    def describe(self) -> str:
        """One line with the effective configuration, for the start-up log."""
        return (
            f"endpoint={self.listen_host}:{self.listen_port} check-interval={self.check_interval_seconds}s "
            f"report-ttl={self.report_ttl_seconds}s max-report-bytes={self.max_report_bytes} "
            f"store={'etcd ' + ','.join(self.etcd.endpoints) if self.etcd.endpoints else 'memory'} "
            f"etcd-tree={self.etcd.tree} pods-file={self.pods_file or '-'} "
            f"kubeconfig={self.kubernetes.kubeconfig or '-'} "
            f"namespace={self.kubernetes.namespace or '(all)'} "
            f"agent-selector={self.kubernetes.agent_selector!r} v={self.verbosity} "
            f"max-agents={self.limits.max_agents} max-unlisted-agents={self.limits.max_unlisted_agents} "
            f"max-metrics-bytes={self.limits.max_metrics_bytes} "
            f"max-stored-field-bytes={self.limits.max_stored_field_bytes} "
            f"legacy-metrics={str(self.metrics.legacy_metrics).lower()} "
            f"shard={self.metrics.shard} total-shards={self.metrics.total_shards} "
            f"max-connections={self.front.max_connections} "
            f"max-connections-per-client={self.front.max_connections_per_client} "
            f"max-inflight-bytes={self.front.max_inflight_bytes} "
            f"max-heavy-reads={self.front.max_heavy_reads} max-head-bytes={self.front.max_head_bytes} "
            f"events={str(self.kube_writes.events).lower()} "
            f"node-conditions={str(self.kube_writes.node_conditions).lower()}"
        )


def load_settings(
    argv: Sequence[str], environ: Mapping[str, str], read_text: Callable[[str], str]
) -> Settings:
    """Merge every source by precedence, convert, validate; raise one ConfigError for all problems."""
    problems: list[str] = []
    flags = parse_flags(argv, problems)
    env = {f.name: environ[env_var_name(f.name)] for f in FLAGS if env_var_name(f.name) in environ}
    config_path = flags.get("config") or env.get("config") or ""
    file_values = _read_config_file(config_path, read_text, problems) if config_path else {}
    raw: dict[str, tuple[str, Any]] = {}
    for source, values in (("config file", file_values), ("environment", env), ("flag", flags)):
        raw.update({name: (source, value) for name, value in values.items()})
    typed = {flag.name: convert_flag_value(flag, raw.get(flag.name), problems) for flag in FLAGS}
    settings = _build(typed, problems)
    if problems:
        raise ConfigError(problems)
    return settings


def _read_config_file(path: str, read_text: Callable[[str], str], problems: list[str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(read_text(path))
    except OSError as error:
        problems.append(f"config file {path}: cannot read: {error.strerror or error}")
        return {}
    except yaml.YAMLError as error:
        problems.append(f"config file {path}: not valid YAML: {error}")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"config file {path}: expected a mapping of flag names to values")
        return {}
    unknown = sorted(str(key) for key in data if key not in FLAGS_BY_NAME or key == "config")
    problems += [f"config file {path}: unknown key {key!r}" for key in unknown]
    return {key: value for key, value in data.items() if key in FLAGS_BY_NAME and key != "config"}


def _build(v: dict[str, Any], problems: list[str]) -> Settings:
    host, port = _listen_address(v["endpoint"], problems)
    _require_positive(v, ("check-interval", "report-ttl", "ping-timeout", "max-report-bytes"), problems)
    negative = [n for n in ("startup-grace", "etcd-compact-interval", "shutdown-delay") if v[n] < 0]
    problems += [f"-{n} must not be negative" for n in negative]
    if v["v"] < 0:
        problems.append("-v must not be negative")
    if v["kubeproxyinit"]:
        problems.append(
            "-kubeproxyinit=true (records kept in the Kubernetes API) is not supported: "
            "use -etcd-endpoints, or leave it false for the in-memory store"
        )
    return Settings(
        listen_host=host,
        listen_port=port,
        check_interval_seconds=v["check-interval"],
        report_ttl_seconds=v["report-ttl"],
        max_report_bytes=v["max-report-bytes"],
        pods_file=v["pods-file"] or None,
        config_file=v["config"] or None,
        etcd=_etcd_settings(v, problems),
        kubernetes=KubernetesSettings(
            kubeconfig=v["kubeconfig"] or None,
            namespace=v["namespace"] or None,
            agent_selector=v["agent-selector"].strip() or DEFAULT_AGENT_SELECTOR,
            startup_grace_seconds=v["startup-grace"],
        ),
        verbosity=v["v"],
        shutdown_delay_seconds=v["shutdown-delay"],
        limits=_limit_settings(v, problems),
        diagnosis=_diagnosis_settings(v, problems),
        metrics=MetricsSettings(legacy_metrics=v["legacy-metrics"], **_metrics_shard(v, problems)),
        front=_front_settings(v, problems),
        kube_writes=_kube_write_settings(v, problems),
    )


def pod_ordinal(pod: str) -> int | None:
    """A StatefulSet pod's ordinal, the `-N` its name ends with; None when it has none."""
    match = _ORDINAL.search(pod)
    return int(match.group(1)) if match else None


def _metrics_shard(v: dict[str, Any], problems: list[str]) -> dict[str, int]:
    total, shard, pod = v["total-shards"], v["shard"], v["pod"]
    if not 1 <= total <= MAX_TOTAL_SHARDS:
        problems.append(f"-total-shards must be from 1 to {MAX_TOTAL_SHARDS} (got {total})")
        return {}
    if pod and shard:
        problems.append("-shard and -pod: give one or the other (-pod's ordinal is the shard)")
    if pod and total > 1:  # one shard: every replica exports everything, whatever its ordinal
        ordinal = pod_ordinal(pod)
        if ordinal is None:
            problems.append(f"-pod {pod!r} does not end in a StatefulSet ordinal (-0, -1, ...)")
            return {}
        shard = ordinal
    if not 0 <= shard < total:
        problems.append(f"the shard must be from 0 to {total - 1} for -total-shards={total} (got {shard})")
        return {}
    if total > 1 and not v["etcd-endpoints"].strip():
        problems.append(f"-total-shards={total} needs -etcd-endpoints: on the memory store a replica "
                        "sees only the reports it received")  # fmt: skip
    return {"shard": shard, "total_shards": total}


def _kube_write_settings(v: dict[str, Any], problems: list[str]) -> KubeWriteSettings:
    if v["node-conditions-heartbeat"] < MIN_HEARTBEAT_SECONDS:
        problems.append(f"-node-conditions-heartbeat must be at least {MIN_HEARTBEAT_SECONDS:g} seconds "
                        f"(got {v['node-conditions-heartbeat']})")  # fmt: skip
    namespace = v["lease-namespace"].strip()
    if namespace and not _DNS_LABEL.fullmatch(namespace):
        problems.append(f"-lease-namespace {namespace!r} is not a namespace name (a DNS label)")
    return KubeWriteSettings(
        events=v["events"],
        node_conditions=v["node-conditions"],
        node_conditions_heartbeat_seconds=v["node-conditions-heartbeat"],
        lease_namespace=namespace,
    )


def _front_settings(v: dict[str, Any], problems: list[str]) -> FrontLimitSettings:
    names = ("max-connections", "max-connections-per-client", "max-inflight-bytes", "max-heavy-reads",
             "max-head-bytes")  # fmt: skip
    _require_positive(v, names, problems)
    if not MIN_HEAD_BYTES <= v["max-head-bytes"] <= MAX_HEAD_BYTES:
        problems.append(f"-max-head-bytes must be from {MIN_HEAD_BYTES} to {MAX_HEAD_BYTES} "
                        f"(got {v['max-head-bytes']})")  # fmt: skip
    if v["max-inflight-bytes"] < v["max-report-bytes"]:
        problems.append(
            f"-max-inflight-bytes ({v['max-inflight-bytes']}) must be at least -max-report-bytes "
            f"({v['max-report-bytes']}): a largest report must fit"
        )
    return FrontLimitSettings(*(v[name] for name in names))


def _diagnosis_settings(v: dict[str, Any], problems: list[str]) -> DiagnosisSettings:
    _require_positive(v, ("clock-skew-threshold", "reboot-window", "flap-transitions", "flap-window",
                          "history-length", "history-max-transitions"), problems)  # fmt: skip
    if 0 < v["history-length"] < v["flap-transitions"]:
        problems.append(
            f"-history-length ({v['history-length']}) must be at least -flap-transitions "
            f"({v['flap-transitions']}): the rule counts the changes it keeps"
        )
    if not 0 < v["cluster-pattern-ratio"] <= 1:
        problems.append(
            f"-cluster-pattern-ratio must be above 0 and at most 1 (got {v['cluster-pattern-ratio']})"
        )
    return DiagnosisSettings(
        clock_skew_threshold_seconds=v["clock-skew-threshold"],
        reboot_window_seconds=v["reboot-window"],
        cluster_pattern_ratio=v["cluster-pattern-ratio"],
        runbook_url=v["runbook-url"].strip(),
        flap_transitions=v["flap-transitions"],
        flap_window_seconds=v["flap-window"],
        history_per_node=v["history-length"],
        history_max_transitions=v["history-max-transitions"],
    )


def _limit_settings(v: dict[str, Any], problems: list[str]) -> LimitSettings:
    names = ("max-probes-per-report", "max-agents", "max-unlisted-agents", "max-pending-writes",
             "max-metrics-bytes", "max-stored-field-bytes")  # fmt: skip
    _require_positive(v, names, problems)
    if v["max-probes-per-report"] > MAX_PROBES_LIMIT:
        problems.append(f"-max-probes-per-report must be at most {MAX_PROBES_LIMIT}")
    if v["max-stored-field-bytes"] > MAX_STORED_FIELD_BYTES_LIMIT:
        problems.append(
            f"-max-stored-field-bytes must be at most {MAX_STORED_FIELD_BYTES_LIMIT} (a record must fit "
            "in one etcd request)"
        )
    return LimitSettings(*(v[name] for name in names))


def _require_positive(v: dict[str, Any], names: tuple[str, ...], problems: list[str]) -> None:
    problems += [f"-{name} must be greater than 0 (got {v[name]})" for name in names if v[name] <= 0]


def _listen_address(endpoint: str, problems: list[str]) -> tuple[str, int]:
    host, _, port_text = endpoint.rpartition(":")
    host = host.strip("[]")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        problems.append(f"-endpoint {endpoint!r} must be host:port with a port from 0 to 65535")
        return "0.0.0.0", 8081
    return host or "0.0.0.0", int(port_text)


def _etcd_settings(v: dict[str, Any], problems: list[str]) -> EtcdSettings:
    endpoints = tuple(e.strip() for e in v["etcd-endpoints"].split(",") if e.strip())
    for endpoint in endpoints:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            problems.append(f"-etcd-endpoints: {endpoint!r} is not an http:// or https:// URL")
    tree = v["etcd-tree"].strip("/")
    if not tree or any(c.isspace() for c in tree):
        problems.append("-etcd-tree must be a non-empty key prefix without spaces")
    if bool(v["etcd-cert"]) != bool(v["etcd-key"]):
        problems.append("-etcd-cert and -etcd-key go together: give both or neither")
    return EtcdSettings(
        endpoints=endpoints,
        tree=tree,
        ca_file=v["etcd-ca"] or None,
        cert_file=v["etcd-cert"] or None,
        key_file=v["etcd-key"] or None,
        ping_timeout_seconds=v["ping-timeout"],
        compact_interval_seconds=v["etcd-compact-interval"],
    )
