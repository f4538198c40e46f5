"""YAML the tests read, through libyaml: the pure-Python loader spent about 0.25 s of every xdist
worker's collection on the alert rules and the manifests alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's wheels carry libyaml; a build without it still reads the same documents, slower."""


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)


def load_yaml_documents(text: str) -> Iterator[Any]:
    return yaml.load_all(text, Loader=LOADER)
