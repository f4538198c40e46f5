"""README's metrics table is /metrics: the same families, types and labels as a real exposition."""

from __future__ import annotations

import re
from collections import Counter

from tests.support.metrics import FamilyShape, exported_families, exposition_text, full_snapshot
from tests.support.paths import README

AGENT_LABELS = frozenset({"pod", "namespace", "node", "network"})
ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| (?P<type>\w+) \|(?P<labels>[^|]*)\|")


def readme_families() -> dict[str, FamilyShape]:
    """The metrics table's rows: `name` | type | labels (`*agent*` is the four per-agent labels)."""
    text = README.read_text()
    section = text[text.index("## Metrics\n") : text.index("## Prometheus scraping\n")]
    rows: dict[str, FamilyShape] = {}
    for match in map(ROW.match, section.splitlines()):
        if match is None:
            continue
        labels = {part.strip().strip("`") for part in match["labels"].split(",") if part.strip()}
        expanded = (labels - {"*agent*"}) | (AGENT_LABELS if "*agent*" in labels else set())
        rows[match["name"]] = (match["type"], frozenset(expanded))
    return rows


def test_the_readme_table_lists_exactly_the_exported_families() -> None:
    """Names and types exactly; labels wherever the exposition has samples to show them."""
    readme, exported = readme_families(), exported_families(exposition_text(full_snapshot()))
    assert set(readme) == set(exported)
    for name, (kind, labels) in exported.items():
        assert readme[name][0] == kind, name
        assert labels is None or readme[name][1] == labels, name


def test_without_legacy_metrics_only_the_ncagent_families_go() -> None:
    everything = exported_families(exposition_text(full_snapshot()))
    modern = exported_families(exposition_text(full_snapshot(), legacy_metrics=False))
    assert set(everything) - set(modern) == {name for name in everything if name.startswith("ncagent_")}


def series_of(text: str, pod: str, legacy_label: str) -> int:
    return sum(
        1
        for line in text.splitlines()
        if not line.startswith("#") and (f'pod="{pod}"' in line or f'agent="{legacy_label}"' in line)
    )


def test_an_agent_with_two_probes_has_the_series_the_readme_counts() -> None:
    """README: 22 series per agent with two probe URLs, 40 with the legacy families (42 before)."""
    snapshot = full_snapshot()
    verdict = next(v for v in snapshot.verdicts if v.record is not None)
    assert verdict.record is not None
    assert len(verdict.record.report.network_probes) == 2
    pod, agent = verdict.pod.name, verdict.legacy_agent_label
    counts = Counter(
        {
            legacy: series_of(exposition_text(snapshot, legacy_metrics=legacy), pod, agent)
            for legacy in (True, False)
        }
    )
    assert (counts[False], counts[True]) == (22, 40)
