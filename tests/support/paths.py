"""Where things are in the repository, and the real agent reports in tests/fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURES = REPO / "tests" / "fixtures"
ALERTS_DIR = REPO / "alerts"
RULES_FILE = ALERTS_DIR / "netchecker.rules.yml"
DASHBOARD_FILE = REPO / "config" / "grafana" / "netchecker.json"
README = REPO / "README.md"


class FixturesMissingError(RuntimeError):
    """The agent fixtures are part of the repository: without them the checkout is broken."""


def fixture_paths() -> list[Path]:
    paths = sorted(FIXTURES.glob("*.json"))
    if not paths:
        raise FixturesMissingError(f"agent fixtures not found in {FIXTURES}")
    return paths


def original_fixture_paths() -> list[Path]:
    """The two original captures that COMPAT.md's answers and the fleet replays are about, not the
    real-agent captures of `make e2e` (agent-report-real-*: a hostdate of their own day, a node of
    their own)."""
    return [path for path in fixture_paths() if not path.name.startswith("agent-report-real-")]


def load_fixture(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return result


def load_fixtures() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(path.read_text()) for path in original_fixture_paths())
