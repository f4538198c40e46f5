"""README's flag table is FLAGS: a row for every flag with its default, and no row for a flag we lack."""

from __future__ import annotations

import re

from netchecker_exporter.flags import FLAGS, Flag
from tests.support.paths import README

ROW = re.compile(r"^\| (?P<flags>`-[^|]+) \|(?P<default>[^|]*)\|")
FLAG_NAME = re.compile(r"`-(?P<name>[A-Za-z0-9_-]+)`")


def readme_flag_defaults() -> dict[str, str]:
    """The Configuration table's rows: one or more `-flag` names, then the default as printed."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration\n") :]
    section = section[: section.index("\n## ", 1)]
    rows: dict[str, str] = {}
    for match in map(ROW.match, section.splitlines()):
        if match is None:
            continue
        names = FLAG_NAME.findall(match["flags"])
        assert names, match["flags"]
        for name in names:
            assert name not in rows, f"-{name} has two rows"
            rows[name] = match["default"].strip()
    return rows


def printed_default(flag: Flag) -> str:
    """The default as Go's flag package prints it: `10` for 10.0, `true` for True, nothing for ''."""
    value = flag.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`" if value != "" else ""


def test_every_flag_has_a_row_with_its_default() -> None:
    rows = readme_flag_defaults()
    missing = [flag.name for flag in FLAGS if flag.name not in rows]
    assert missing == []
    wrong = {
        flag.name: (rows[flag.name], printed_default(flag))
        for flag in FLAGS
        if rows[flag.name] != printed_default(flag)
    }
    assert wrong == {}


def test_no_row_names_a_flag_that_does_not_exist() -> None:
    known = {flag.name for flag in FLAGS}
    assert sorted(set(readme_flag_defaults()) - known) == []


def test_the_defaults_print_as_the_table_writes_them() -> None:
    """The formatting the table is held to, on one flag of each kind."""
    by_name = {flag.name: flag for flag in FLAGS}
    assert printed_default(by_name["check-interval"]) == "`10`"
    assert printed_default(by_name["cluster-pattern-ratio"]) == "`0.5`"
    assert printed_default(by_name["legacy-metrics"]) == "`true`"
    assert printed_default(by_name["etcd-endpoints"]) == ""
    assert printed_default(by_name["max-agents"]) == "`12000`"
