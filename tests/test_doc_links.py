"""The docs' relative links lead somewhere: a file in the repository that git does not ignore, and a
heading of it when the link names one. Docs moved between files; a stale link is how that drifts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#+ (?P<title>.+)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
DOCS = sorted([REPO / "README.md", REPO / "BENCHMARKS.md", *(REPO / "docs").glob("*.md")])


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation gone, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(match["title"]) for match in HEADING.finditer(text)}


def relative_links(path: Path) -> list[str]:
    links = [match["target"] for match in LINK.finditer(path.read_text(encoding="utf-8"))]
    return [link for link in links if not re.match(r"^[a-z]+:", link)]


def ignored_by_git(paths: list[Path]) -> set[Path]:
    """The paths `git check-ignore` names: a link to one works on one machine only."""
    if not paths:
        return set()
    listed = "\n".join(str(path) for path in paths)
    done = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=REPO,
        input=listed,
        capture_output=True,
        text=True,
        check=False,
    )
    return {Path(line) for line in done.stdout.splitlines()}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_reaches_a_file_and_its_heading(doc: Path) -> None:
    broken: list[str] = []
    targets: list[Path] = []
    for link in relative_links(doc):
        path_part, _, fragment = link.partition("#")
        target = (doc.parent / path_part).resolve() if path_part else doc
        if not target.exists():
            broken.append(f"{link}: no such file")
            continue
        targets.append(target)
        if fragment and target.suffix == ".md" and fragment not in anchors_of(target):
            broken.append(f"{link}: no such heading")
    broken += [f"{path.relative_to(REPO)}: ignored by git" for path in sorted(ignored_by_git(targets))]
    assert broken == []


def test_the_anchor_rule_is_githubs() -> None:
    """The rule the links are held to, on headings the docs use."""
    assert anchor("Diagnosis: what is broken, where") == "diagnosis-what-is-broken-where"
    assert anchor("Measured (`python -m bench.budgets`, part of `make bench`)") == (
        "measured-python--m-benchbudgets-part-of-make-bench"
    )
