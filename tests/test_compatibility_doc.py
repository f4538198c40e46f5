"""docs/compatibility.md against the code: the flags, metrics and alerts it names exist, its entries
are numbered once each, and the README links it."""

from __future__ import annotations

import re

from netchecker_exporter.flags import FLAGS_BY_NAME
from tests.support.paths import README, REPO, RULES_FILE
from tests.support.yaml_text import load_yaml
from tests.test_readme_metrics import readme_families

DOC = REPO / "docs" / "compatibility.md"
ENTRY = re.compile(r"^\| (?P<number>D\d+[a-z]?) \|(?P<cells>.*)\|$")
FLAG = re.compile(r"`-(?P<name>[a-z][a-z0-9_-]*)(?:=[^`]*)?`")
METRIC = re.compile(r"\b(?P<name>(?:ncagent|netchecker)_[a-z_]+)\b")
ALERT = re.compile(r"`(?P<name>Netchecker[A-Za-z]+)`")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_entry_has_a_number_of_its_own_and_all_five_columns() -> None:
    """The original, ours, why, who could notice: each row says all four, under its own number."""
    numbers: list[str] = []
    for match in filter(None, map(ENTRY.match, doc_text().splitlines())):
        numbers.append(match["number"])
        cells = [cell.strip() for cell in match["cells"].split(" | ")]
        assert len(cells) == 4 and all(cells), match["number"]
    assert len(numbers) >= 30
    assert len(numbers) == len(set(numbers))


def test_every_flag_it_names_is_a_flag_of_ours() -> None:
    named = {match["name"] for match in FLAG.finditer(doc_text())}
    assert named, "the doc names flags"
    assert sorted(named - set(FLAGS_BY_NAME)) == []


def test_every_metric_it_names_is_in_the_readme_metrics_table() -> None:
    """The README's table is held to a real exposition (test_readme_metrics), so this reaches /metrics."""
    named = {match["name"] for match in METRIC.finditer(doc_text()) if not match["name"].endswith("_")}
    families = set(readme_families())
    # A family named by its sample suffix (`..._total`) or by its base name both count.
    unknown = {name for name in named if name not in families and name.removesuffix("_total") not in families}
    assert sorted(unknown) == []


def test_every_alert_it_names_is_a_shipped_rule() -> None:
    rules = load_yaml(RULES_FILE.read_text(encoding="utf-8"))
    shipped = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    named = {match["name"] for match in ALERT.finditer(doc_text())}
    assert named and named <= shipped


def test_the_readme_links_it() -> None:
    assert "(docs/compatibility.md)" in README.read_text(encoding="utf-8")
