"""The Diagnosis flags: defaults, every source, and each bad value with its exact message."""

from __future__ import annotations

import pytest

from netchecker_exporter.flags import format_help
from netchecker_exporter.settings import DiagnosisSettings
from tests.support.settings import load, problems_of


def test_the_diagnosis_defaults() -> None:
    assert load([]).diagnosis == DiagnosisSettings(
        clock_skew_threshold_seconds=30.0,
        reboot_window_seconds=900.0,
        cluster_pattern_ratio=0.5,
        runbook_url="",
    )


def test_the_diagnosis_flags_come_from_flags_and_environment() -> None:
    settings = load(
        ["-clock-skew-threshold=5", "--reboot-window", "60", "-runbook-url= https://wiki/netchecker "],
        {"NETCHECKER_CLUSTER_PATTERN_RATIO": "0.8"},
    )
    assert settings.diagnosis == DiagnosisSettings(5.0, 60.0, 0.8, runbook_url="https://wiki/netchecker")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-clock-skew-threshold=0"], "-clock-skew-threshold must be greater than 0 (got 0.0)"),
        (["-reboot-window=-1"], "-reboot-window must be greater than 0 (got -1.0)"),
        (["-cluster-pattern-ratio=1.5"], "-cluster-pattern-ratio must be above 0 and at most 1 (got 1.5)"),
        (["-cluster-pattern-ratio=half"], "flag -cluster-pattern-ratio: 'half' is not a number"),
        (["-flap-transitions=0"], "-flap-transitions must be greater than 0 (got 0)"),
        (["-flap-window=0"], "-flap-window must be greater than 0 (got 0.0)"),
        (["-history-max-transitions=-5"], "-history-max-transitions must be greater than 0 (got -5)"),
        (
            ["-history-length=3"],
            "-history-length (3) must be at least -flap-transitions (4): the rule counts "
            "the changes it keeps",
        ),
        (["-history-length=2.5"], "flag -history-length: '2.5' is not an integer"),
    ],
)
def test_each_bad_diagnosis_value_gets_its_exact_message(argv: list[str], message: str) -> None:
    assert problems_of(argv) == [message]


def test_help_lists_the_diagnosis_group() -> None:
    text = format_help("netchecker-exporter")
    assert "Diagnosis:" in text
    assert "-clock-skew-threshold" in text and "[$NETCHECKER_CLOCK_SKEW_THRESHOLD]" in text


def test_the_history_and_flapping_flags_come_from_every_source() -> None:
    settings = load(
        ["-flap-transitions=6", "--flap-window", "600"],
        {"NETCHECKER_HISTORY_LENGTH": "10", "NETCHECKER_CONFIG": "netchecker.yml"},
        {"netchecker.yml": "history-max-transitions: 1000\n"},
    )
    diagnosis = settings.diagnosis
    assert (diagnosis.flap_transitions, diagnosis.flap_window_seconds) == (6, 600.0)
    assert (diagnosis.history_per_node, diagnosis.history_max_transitions) == (10, 1000)
    defaults = load([]).diagnosis
    assert (defaults.flap_transitions, defaults.flap_window_seconds) == (4, 900.0)
    assert (defaults.history_per_node, defaults.history_max_transitions) == (32, 50_000)
