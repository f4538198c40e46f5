"""The image under test and the containers a test runs from it, through the podman command line.

runc, not crun: crun refuses a host whose cgroups are in hybrid mode. The ulimits are explicit
because runc cannot raise a container's limits above those this host grants its own processes.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
import uuid
from dataclasses import dataclass

from tests.support.paths import REPO

RUN_TIMEOUT_SECONDS = 120
LIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768")


def image_name() -> str:
    """What `make image` tags (scripts/build-image): $NETCHECKER_IMAGE or the project's version."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return os.environ.get("NETCHECKER_IMAGE") or f"localhost/netchecker-exporter:{version}"


def podman(*args: str, check: bool = True, timeout: float = RUN_TIMEOUT_SECONDS) -> str:
    """`podman --runtime runc ARGS`: its stdout; raises with stderr when it fails and `check` is set."""
    done = subprocess.run(
        ["podman", "--runtime", "runc", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def image_exists(image: str) -> bool:
    return subprocess.run(["podman", "image", "exists", image], check=False).returncode == 0


def run_once(image: str, *command: str) -> str:
    """COMMAND in a throw-away container of `image` (entry point replaced), as the image's user."""
    entrypoint, *args = command
    return podman("run", "--rm", *LIMITS, "--network", "none", "--entrypoint", entrypoint, image, *args)


def run_once_as_root(image: str, script: str) -> str:
    """A shell script in a throw-away container as root, to look where the image's user may not."""
    return podman(
        "run", "--rm", *LIMITS, "--network", "none", "--user", "0", "--entrypoint", "sh", image, "-c", script
    )


@dataclass
class Container:
    """One detached container, removed by `remove()` whatever state it is in."""

    name: str

    @classmethod
    def start(cls, image: str, *run_options: str, args: tuple[str, ...] = ()) -> Container:
        container = cls(f"netchecker-image-test-{uuid.uuid4().hex[:12]}")
        podman("run", "--detach", "--name", container.name, *LIMITS, *run_options, image, *args)
        return container

    def exec(self, *command: str, check: bool = True) -> str:
        return podman("exec", self.name, *command, check=check)

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).strip()

    @property
    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    def exit_code(self) -> int:
        return int(self.inspect("{{.State.ExitCode}}"))

    def signal(self, name: str) -> None:
        podman("kill", "--signal", name, self.name)

    def logs(self) -> str:
        """What the server wrote (its log goes to stderr, which podman logs replays on its own)."""
        done = subprocess.run(
            ["podman", "logs", self.name], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout + done.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)
