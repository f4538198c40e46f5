"""A diagnosis that keeps the last pass's unchanged nodes equals one worked out afresh."""

from __future__ import annotations

from typing import Any

import pytest

from netchecker_exporter.diagnosis.nodes import diagnose
from tests.support.diagnosis import NOW, SETTINGS, node_agents, verdicts
from tests.test_diagnosis import CASES, HEALTHY_NEIGHBOURS

PASSES = [(NOW, NOW), (NOW, NOW + 5), (NOW, NOW + 4000), (NOW, NOW - 5), (NOW + 4000, NOW)]
"""(first pass, next pass): at once, seconds on, past the reboot window, and with the clock
stepped back (from past the window to inside it, in the last)."""


@pytest.mark.parametrize(("pod", "host"), [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize(("earlier", "later"), PASSES)
def test_a_pass_on_the_same_verdicts_equals_a_fresh_diagnosis(
    pod: dict[str, Any], host: dict[str, Any], earlier: float, later: float
) -> None:
    judged = verdicts([*node_agents("n1", pod, host), *HEALTHY_NEIGHBOURS])
    first = diagnose(judged, earlier, SETTINGS)
    kept = diagnose(judged, later, SETTINGS, previous=first)
    assert kept == diagnose(judged, later, SETTINGS)
    assert [n.facts.now for n in kept.nodes] == [later] * len(kept.nodes)


@pytest.mark.parametrize(("pod", "host"), [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
def test_a_node_whose_agents_changed_is_diagnosed_again(pod: dict[str, Any], host: dict[str, Any]) -> None:
    healthy = verdicts([*node_agents("n1"), *HEALTHY_NEIGHBOURS])
    changed = verdicts([*node_agents("n1", pod, host), *HEALTHY_NEIGHBOURS])
    mixed = [*changed[:2], *healthy[2:]]  # n1 changed, its neighbours' verdicts are the same objects
    first = diagnose(healthy, NOW, SETTINGS)
    assert diagnose(mixed, NOW + 5, SETTINGS, previous=first) == diagnose(mixed, NOW + 5, SETTINGS)


def test_unchanged_nodes_are_kept_not_diagnosed_again() -> None:
    judged = verdicts([*node_agents("n1", {"probes": ()}), *HEALTHY_NEIGHBOURS])
    first = diagnose(judged, NOW, SETTINGS)
    kept = diagnose(judged, NOW + 5, SETTINGS, previous=first)
    assert all(new.findings is old.findings for new, old in zip(kept.nodes, first.nodes, strict=True))
