"""Configuration: Go-style flags > NETCHECKER_* environment > YAML file > defaults -> Settings.

Pure: the caller hands in argv, the environment and a file reader. Every problem is collected
into one ConfigError so an operator fixes them in one go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.report import MAX_PROBES_LIMIT

ENV_PREFIX = "NETCHECKER_"
DEFAULT_AGENT_SELECTOR = "app in (netchecker-agent,netchecker-agent-hostnet)"


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
        "max-pending-writes",
        int,
        48,
        "Limits",
        "reports waiting on the etcd store at once; one more gets 503 at once (keeps workers free)",
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
        "legacy-metrics",
        bool,
        True,
        "Metrics",
        "also export the original's ncagent_* families (dashboards out there use them); "
        "false: only netchecker_*",
    ),
)
FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}
HELP_FLAGS = {"h", "help"}


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    endpoints: tuple[str, ...]
    tree: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    ping_timeout_seconds: float
    compact_interval_seconds: float = 300.0
    """0 disables compaction: compacting is etcd-wide, so a shared etcd may want its own policy."""


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    kubeconfig: str | None
    namespace: str | None
    agent_selector: str
    startup_grace_seconds: float


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    legacy_metrics: bool = True


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Bounds on what clients may make the server keep (README: What is refused and why)."""

    max_probes_per_report: int = 32
    max_agents: int = 12_000
    max_unlisted_agents: int = 500
    max_pending_writes: int = 48


@dataclass(frozen=True, slots=True)
class DiagnosisSettings:
    """Thresholds of the per-node diagnosis (diagnosis.py)."""

    clock_skew_threshold_seconds: float = 30.0
    reboot_window_seconds: float = 900.0
    cluster_pattern_ratio: float = 0.5
    cluster_pattern_min_nodes: int = 3
    """Fewer judged nodes than this never make a cluster-wide pattern: 2 of 2 is not 'everywhere'."""
    runbook_url: str = ""


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
    limits: LimitSettings = LimitSettings()
    diagnosis: DiagnosisSettings = DiagnosisSettings()
    metrics: MetricsSettings = MetricsSettings()

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
            f"legacy-metrics={str(self.metrics.legacy_metrics).lower()}"
        )


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
    typed = {flag.name: _convert(flag, raw.get(flag.name), problems) for flag in FLAGS}
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


_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def _convert(flag: Flag, sourced: tuple[str, Any] | None, problems: list[str]) -> Any:
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


def _build(v: dict[str, Any], problems: list[str]) -> Settings:
    host, port = _listen_address(v["endpoint"], problems)
    _require_positive(v, ("check-interval", "report-ttl", "ping-timeout", "max-report-bytes"), problems)
    problems += [f"-{n} must not be negative" for n in ("startup-grace", "etcd-compact-interval") if v[n] < 0]
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
        limits=_limit_settings(v, problems),
        diagnosis=_diagnosis_settings(v, problems),
        metrics=MetricsSettings(legacy_metrics=v["legacy-metrics"]),
    )


def _diagnosis_settings(v: dict[str, Any], problems: list[str]) -> DiagnosisSettings:
    _require_positive(v, ("clock-skew-threshold", "reboot-window"), problems)
    if not 0 < v["cluster-pattern-ratio"] <= 1:
        problems.append(
            f"-cluster-pattern-ratio must be above 0 and at most 1 (got {v['cluster-pattern-ratio']})"
        )
    return DiagnosisSettings(
        clock_skew_threshold_seconds=v["clock-skew-threshold"],
        reboot_window_seconds=v["reboot-window"],
        cluster_pattern_ratio=v["cluster-pattern-ratio"],
        runbook_url=v["runbook-url"].strip(),
    )


def _limit_settings(v: dict[str, Any], problems: list[str]) -> LimitSettings:
    names = ("max-probes-per-report", "max-agents", "max-unlisted-agents", "max-pending-writes")
    _require_positive(v, names, problems)
    if v["max-probes-per-report"] > MAX_PROBES_LIMIT:
        problems.append(f"-max-probes-per-report must be at most {MAX_PROBES_LIMIT}")
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


def format_help(program: str) -> str:
    """Grouped flag help, in Go's `-name value` style."""
    lines = [f"Usage: {program} [flags]", "", "Flags may be -name=value, -name value or --name=value."]
    for group in dict.fromkeys(flag.group for flag in FLAGS):
        lines += ["", f"{group}:"]
        for flag in (f for f in FLAGS if f.group == group):
            default = f" (default {flag.default!r})" if flag.default not in ("", False) else ""
            lines.append(f"  -{flag.name:<18} {flag.help}{default}  [${env_var_name(flag.name)}]")
    return "\n".join(lines) + "\n"
