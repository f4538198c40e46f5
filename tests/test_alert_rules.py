"""The alert rules: promtool accepts them, their unit tests pass, and each alert is well-formed."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.support.paths import ALERTS_DIR, RULES_FILE
from tests.support.yaml_text import load_yaml

pytestmark = [pytest.mark.process]

RULES_TEST_FILE = ALERTS_DIR / "netchecker.rules.test.yml"
RUNBOOK_FILE = ALERTS_DIR / "RUNBOOK.md"
RUNBOOK_PREFIX = "alerts/RUNBOOK.md#"
SEVERITIES = {"warning", "critical"}


def load_alerts() -> list[dict[str, Any]]:
    groups = load_yaml(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: run scripts/ensure-debian-packages (Debian package 'prometheus')")
    return subprocess.run(
        [promtool, *args], cwd=ALERTS_DIR, capture_output=True, text=True, timeout=60, check=False
    )


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_accepts_the_rules_file() -> None:
    result = run_promtool("check", "rules", RULES_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = run_promtool("test", "rules", RULES_TEST_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_names_are_unique() -> None:
    names = [rule["alert"] for rule in load_alerts()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule", load_alerts(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) >= {"summary", "description", "runbook_url"}
    assert annotations["runbook_url"] == RUNBOOK_PREFIX + rule["alert"].lower()
    assert "for" in rule, "every alert waits before firing so restarts do not page"


@pytest.mark.parametrize("rule", load_alerts(), ids=lambda rule: rule["alert"])
def test_alert_description_names_what_is_affected(rule: dict[str, Any]) -> None:
    text = rule["annotations"]["summary"] + rule["annotations"]["description"]
    by_node = "node" in rule["expr"] or "netchecker_agent_" in rule["expr"]
    wanted = ["$labels.node"] if by_node else ["$labels.instance", "job netchecker"]
    assert any(label in text for label in wanted), f"{rule['alert']} names none of {wanted}"


@pytest.mark.parametrize("rule", load_alerts(), ids=lambda rule: rule["alert"])
def test_runbook_has_a_section_for_each_alert(rule: dict[str, Any]) -> None:
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK_FILE.read_text().splitlines()
        if line.startswith("## ")
    }
    assert rule["annotations"]["runbook_url"].removeprefix(RUNBOOK_PREFIX) in anchors


def unit_test_cases() -> list[dict[str, Any]]:
    tests = load_yaml(RULES_TEST_FILE.read_text())["tests"]
    return [case for test in tests for case in test.get("alert_rule_test", [])]


@pytest.mark.parametrize("rule", load_alerts(), ids=lambda rule: rule["alert"])
def test_each_alert_has_a_firing_and_a_quiet_unit_test(rule: dict[str, Any]) -> None:
    cases = [case for case in unit_test_cases() if case["alertname"] == rule["alert"]]
    assert any(case.get("exp_alerts") for case in cases), "no case where it fires"
    assert any(not case.get("exp_alerts") for case in cases), "no case where it stays quiet"
