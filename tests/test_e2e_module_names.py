"""e2e/stand_in_agent.py runs as a script, so e2e/ comes first on its sys.path: a module there named
like a standard one (selectors, once) replaces it, and the agent died at its first import."""

from __future__ import annotations

import sys

from tests.support.paths import REPO


def test_no_e2e_module_shadows_a_standard_library_module() -> None:
    names = {path.stem for path in (REPO / "e2e").glob("*.py")}
    assert names, "e2e/ has modules"
    assert not sorted(names & sys.stdlib_module_names)
