"""The README's first screen gives the two commands a new user needs: `make run` and `make test`."""

from __future__ import annotations

from tests.support.paths import REPO

FIRST_SCREEN_LINES = 40


def test_the_first_screen_shows_make_run_and_make_test() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    first_screen = "\n".join(lines[:FIRST_SCREEN_LINES])
    assert "make run" in first_screen
    assert "make test" in first_screen
