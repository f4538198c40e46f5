"""The Events and Node-condition flags: defaults, sources, and each bad value with its message."""

from __future__ import annotations

import pytest

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.settings import KubeWriteSettings, load_settings


def load(argv: list[str], env: dict[str, str] | None = None) -> KubeWriteSettings:
    return load_settings(argv, env or {}, lambda _path: "").kube_writes


def test_events_are_on_and_node_conditions_off_by_default() -> None:
    expected = KubeWriteSettings(
        events=True, node_conditions=False, node_conditions_heartbeat_seconds=300.0, lease_namespace=""
    )
    assert load([]) == expected


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["-events=false"], {}, {"events": False}),
        ([], {"NETCHECKER_EVENTS": "false"}, {"events": False}),
        (["-node-conditions"], {}, {"node_conditions": True}),
        (["-node-conditions-heartbeat=600"], {}, {"node_conditions_heartbeat_seconds": 600.0}),
        (["-lease-namespace", "netchecker"], {}, {"lease_namespace": "netchecker"}),
    ],
)
def test_each_flag_and_its_environment_variable(
    argv: list[str], env: dict[str, str], expected: dict[str, object]
) -> None:
    settings = load(argv, env)
    assert {name: getattr(settings, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["-node-conditions-heartbeat=10"],
            "-node-conditions-heartbeat must be at least 60 seconds (got 10.0)",
        ),
        (
            ["-lease-namespace=Net_Checker"],
            "-lease-namespace 'Net_Checker' is not a namespace name (a DNS label)",
        ),
        (["-events=maybe"], "flag -events: 'maybe' is not a boolean"),
    ],
)
def test_bad_values_are_refused_with_their_message(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(argv)
    assert message in str(raised.value)
