"""The real helm CLI (built by e2e/build-peers) run on charts/netchecker: lint, template, the errors.

Values go in as a YAML file (`-f`), so a test's values reach helm exactly as a user's values.yaml.
helm's home, cache and config are a fresh temporary directory per call.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import REPO

CHART = REPO / "charts" / "netchecker"
RELEASE = "netchecker"
NAMESPACE = "netchecker"
Values = dict[str, Any]


@dataclass(frozen=True)
class HelmResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class Helm:
    binary: Path

    def run(self, *args: str, values: Values | None = None, kubeconfig: Path | None = None) -> HelmResult:
        """`helm ARGS... -f VALUES` with helm's own config and cache kept out of $HOME; against the
        API server of `kubeconfig` when given (install, uninstall)."""
        with tempfile.TemporaryDirectory(prefix="netchecker-helm-") as home:
            values_args: list[str] = []
            if values is not None:
                values_file = Path(home) / "values.yaml"
                values_file.write_text(yaml.safe_dump(values))
                values_args = ["-f", str(values_file)]
            env = {"HOME": home, "HELM_CACHE_HOME": home, "HELM_CONFIG_HOME": home, "HELM_DATA_HOME": home,
                   "PATH": "/usr/bin:/bin", "KUBECONFIG": str(kubeconfig or Path(home) / "none")}  # fmt: skip
            done = subprocess.run(
                [str(self.binary), *args, *values_args],
                capture_output=True, text=True, timeout=120, env=env, check=False,
            )  # fmt: skip
        return HelmResult(done.returncode, done.stdout, done.stderr)

    def lint(self, values: Values | None = None) -> HelmResult:
        return self.run("lint", "--strict", str(CHART), values=values)

    def template_text(self, values: Values | None = None, *, namespace: str = NAMESPACE) -> str:
        """`helm template`'s output; a failure raises with helm's message."""
        result = self.run("template", RELEASE, str(CHART), "--namespace", namespace, values=values)
        if result.returncode != 0:
            raise AssertionError(f"helm template failed ({result.returncode}):\n{result.output}")
        return result.stdout

    def template(self, values: Values | None = None, *, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
        """Every object `helm template` renders for these values."""
        text = self.template_text(values, namespace=namespace)
        return [obj for obj in yaml.safe_load_all(text) if obj]
