"""charts/netchecker without helm: its copies of the alerts and the dashboard, its values schema.

Helm reads only files inside the chart, so the chart carries copies of alerts/netchecker.rules.yml
and config/grafana/netchecker.json; these tests hold them identical. `make e2e` runs the real helm.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.paths import DASHBOARD_FILE, REPO, RULES_FILE
from tests.support.yaml_text import load_yaml

CHART = REPO / "charts" / "netchecker"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = load_yaml((CHART / "values.yaml").read_text())


COPIES = [
    (RULES_FILE, CHART / "files" / "netchecker.rules.yml"),
    (DASHBOARD_FILE, CHART / "files" / "netchecker.json"),
]


@pytest.mark.parametrize(("original", "copy_in_chart"), COPIES)
def test_the_chart_carries_the_original_file_unchanged(original: Path, copy_in_chart: Path) -> None:
    assert copy_in_chart.read_bytes() == original.read_bytes(), (
        f"{copy_in_chart.relative_to(REPO)} differs from {original.relative_to(REPO)}: "
        f"cp {original.relative_to(REPO)} {copy_in_chart.relative_to(REPO)}"
    )


def test_the_schema_is_a_valid_draft_7_schema_and_accepts_the_defaults() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(DEFAULTS)


def with_values(overrides: dict[str, Any]) -> dict[str, Any]:
    """The defaults with `overrides` merged in, as helm merges a user's values file."""
    merged = copy.deepcopy(DEFAULTS)

    def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(merged, overrides)
    return merged


def schema_errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return sorted(
        f"{'/'.join(map(str, error.absolute_path))}: {error.validator}"
        for error in validator.iter_errors(values)
        for error in ([error] if not error.context else error.context)
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"fleet": {"nodez": 3}}, "fleet: additionalProperties"),
        ({"fleet": {"nodes": "500"}}, "fleet/nodes: type"),
        ({"fleet": {"nodes": 0}}, "fleet/nodes: minimum"),
        ({"store": {"type": "etcd"}}, "store/type: enum"),
        ({"server": {"replicas": 2}}, "server/replicas: const"),
        ({"server": {"replicas": 2}, "store": {"type": "etcd-sidecar"}}, "server/replicas: const"),
        ({"store": {"type": "etcd-external"}}, "store/etcdExternal/endpoints: minItems"),
        (
            {"store": {"etcdExternal": {"endpoints": ["http://etcd:2379"]}}},
            "store/etcdExternal/endpoints/0: pattern",
        ),
        ({"service": {"type": "LoadBalancer"}}, "service/type: enum"),
        ({"agents": {"hostNetwork": {"namespace": "Kube_System"}}}, "agents/hostNetwork/namespace: pattern"),
        ({"agents": {"image": {"tag": ""}}}, "agents/image/tag: minLength"),
        ({"rbac": {"clusterwide": False}}, "rbac: additionalProperties"),
        ({"events": {"enable": True}}, "events: additionalProperties"),
        ({"events": {"enabled": "yes"}}, "events/enabled: type"),
        ({"nodeConditions": {"enabled": 1}}, "nodeConditions/enabled: type"),
        ({"nodeConditions": {"heartbeatSeconds": 30}}, "nodeConditions/heartbeatSeconds: minimum"),
        ({"nodeConditions": {"heartbeatSeconds": 90.5}}, "nodeConditions/heartbeatSeconds: type"),
        ({"nodeConditions": {"heartbeatSeconds": 86401}}, "nodeConditions/heartbeatSeconds: maximum"),
        (
            {"nodeConditions": {"enabled": True}, "rbac": {"clusterWide": False}},
            "nodeConditions/enabled: const",
        ),
        ({"server": {"sharding": {"enabled": True}}}, "store/type: const"),
        ({"server": {"sharding": {"enabled": True}}, "store": {"type": "etcd-sidecar"}}, "store/type: const"),
        ({"server": {"sharding": {"enabled": "true"}}}, "server/sharding/enabled: type"),
        ({"server": {"sharding": {"shards": 2}}}, "server/sharding: additionalProperties"),
        ({"server": {"replicas": 1025}}, "server/replicas: maximum"),
    ],
)
def test_the_schema_refuses_bad_values(overrides: dict[str, Any], error: str) -> None:
    assert error in schema_errors(with_values(overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"server": {"replicas": 3}, "store": {"type": "etcd-external",
                                              "etcdExternal": {"endpoints": ["https://etcd-0:2379"]}}},
        {"server": {"replicas": 3, "sharding": {"enabled": True}},
         "store": {"type": "etcd-external", "etcdExternal": {"endpoints": ["https://etcd-0:2379"]}}},
        {"server": {"replicas": 1, "sharding": {"enabled": True}},
         "store": {"type": "etcd-external", "etcdExternal": {"endpoints": ["https://etcd-0:2379"]}}},
        {"store": {"type": "etcd-sidecar"}, "fleet": {"nodes": 5000}},
        {"service": {"type": "NodePort"}, "rbac": {"clusterWide": False}, "dashboard": {"enabled": True}},
        {"events": {"enabled": False}, "nodeConditions": {"enabled": True, "heartbeatSeconds": 60}},
        {"rbac": {"clusterWide": False}, "events": {"enabled": True}, "nodeConditions": {"enabled": False}},
    ],
)  # fmt: skip
def test_the_schema_accepts_every_mode(overrides: dict[str, Any]) -> None:
    assert schema_errors(with_values(overrides)) == []
