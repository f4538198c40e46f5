"""Pod source `static`: a fixed list of expected agents from a YAML file (-pods-file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netchecker_exporter.check import ExpectedPod, Network, network_of_pod_name
from netchecker_exporter.errors import ConfigError, InvalidReportError
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord, validate_pod_name

_ALLOWED_KEYS = {"pod", "node", "namespace", "network"}


def parse_pods_file(data: Any, source: str) -> tuple[ExpectedPod, ...]:
    """Validate `{agents: [{pod, node, namespace, network}]}` (or the bare list).

    Raises ConfigError listing every problem, like the rest of the configuration.
    """
    entries = data.get("agents") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError([f"{source}: expected a list of agents (or a mapping with 'agents')"])
    problems: list[str] = []
    pods = [_parse_entry(entry, f"{source}: agents[{i}]", problems) for i, entry in enumerate(entries)]
    names = [pod.name for pod in pods if pod is not None]
    problems += [f"{source}: pod {n!r} is listed twice" for n in sorted(set(names)) if names.count(n) > 1]
    if problems:
        raise ConfigError(problems)
    return tuple(pod for pod in pods if pod is not None)


def _parse_entry(entry: Any, where: str, problems: list[str]) -> ExpectedPod | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a mapping with 'pod', 'node', 'namespace'")
        return None
    unknown = sorted(set(map(str, entry)) - _ALLOWED_KEYS)
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(unknown)}")
    fields = {key: entry.get(key, "") for key in _ALLOWED_KEYS}
    if not all(isinstance(value, str) for value in fields.values()):
        problems.append(f"{where}: 'pod', 'node', 'namespace' and 'network' must be strings")
        return None
    try:
        name = validate_pod_name(fields["pod"])
    except InvalidReportError as error:
        problems.append(f"{where}: {error}")
        return None
    network = fields["network"] or network_of_pod_name(name)
    if network not in {n.value for n in Network}:
        problems.append(f"{where}: network must be 'pod' or 'host'")
        return None
    return ExpectedPod(name, fields["namespace"], fields["node"], Network(network))


class StaticPodSource:
    """Expects exactly the listed agents, whatever has reported."""

    kind = "static"
    reporters_are_expected = False

    def __init__(self, pods: tuple[ExpectedPod, ...]) -> None:
        self._pods = pods

    def start(self) -> None:
        """Nothing to start: the list was read at start-up."""

    def expected_pods(self, records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
        return self._pods

    def health(self) -> PodSourceHealth:
        """Up: the list is in hand. Never synced: it was read once, there is no origin to sync with."""
        return PodSourceHealth(up=True, last_sync_timestamp=None)

    def close(self) -> None:
        """Nothing to release."""
