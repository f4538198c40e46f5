"""Settings loaded as the CLI loads them, from an argv, an environment and files the test gives,
and the problems a refused configuration lists: one way for every settings suite."""

from __future__ import annotations

import pytest

from netchecker_exporter.errors import ConfigError
from netchecker_exporter.settings import Settings, load_settings


def load(argv: list[str], env: dict[str, str] | None = None, files: dict[str, str] | None = None) -> Settings:
    """`files` maps a -config path to its text; any other path is missing, as on a bare machine."""

    def read_text(path: str) -> str:
        if files is None or path not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[path]

    return load_settings(argv, env or {}, read_text)


def problems_of(
    argv: list[str], env: dict[str, str] | None = None, files: dict[str, str] | None = None
) -> list[str]:
    """Every problem of a configuration that must be refused (the test fails if it loads)."""
    with pytest.raises(ConfigError) as error:
        load(argv, env, files)
    return error.value.problems
