"""docs/architecture.md names every module of the package, and no module that is gone."""

from __future__ import annotations

import re

from tests.support.paths import REPO

PACKAGE = REPO / "netchecker_exporter"
DOC = REPO / "docs" / "architecture.md"
GENERATED = "store/etcdpb/"


def package_modules() -> set[str]:
    paths = (path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))
    return {path for path in paths if not path.startswith(GENERATED) and not path.endswith("__init__.py")}


def test_every_module_of_the_package_is_named_in_the_architecture_doc() -> None:
    named = set(re.findall(r"`([a-z_/]+\.py)`", DOC.read_text(encoding="utf-8")))
    assert package_modules() - named == set()


def test_the_architecture_doc_names_no_module_that_is_gone() -> None:
    named = set(re.findall(r"`([a-z_/]+\.py)`", DOC.read_text(encoding="utf-8")))
    modules = package_modules() | {"__main__.py"}
    outside = {"exporter.py", "pyproject.toml"}
    assert {name for name in named if not name.startswith(("tests/", "docs/"))} - modules - outside == set()
