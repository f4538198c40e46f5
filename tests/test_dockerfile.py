"""The Dockerfile, checked without a Docker engine: stages, user, port, entry point, install step."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass

from tests.support.paths import REPO
from tests.support.yaml_text import load_yaml_documents

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    logical = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    instructions = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())


def final_stage() -> list[Instruction]:
    last_from = max(i for i, ins in enumerate(INSTRUCTIONS) if ins.keyword == "FROM")
    return INSTRUCTIONS[last_from:]


def build_args() -> dict[str, str]:
    return dict(
        ins.arguments.split("=", 1) for ins in INSTRUCTIONS if ins.keyword == "ARG" and "=" in ins.arguments
    )


def test_dockerfile_is_multi_stage_on_slim_python_3_11() -> None:
    images = [ins.arguments.split()[0] for ins in INSTRUCTIONS if ins.keyword == "FROM"]
    assert len(images) >= 2
    resolved = {re.sub(r"\$\{(\w+)\}", lambda m: build_args()[m.group(1)], image) for image in images}
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?", image) for image in resolved), resolved


def test_image_runs_as_the_non_root_user_the_deployment_expects() -> None:
    users = [ins.arguments for ins in final_stage() if ins.keyword == "USER"]
    assert users, "the final stage must switch user"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid lets runAsNonRoot verify it"
    rendered = load_yaml_documents((REPO / "config/kubernetes/base/netchecker.yaml").read_text())
    deployment = next(doc for doc in rendered if doc and doc["kind"] == "Deployment")
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (int(uid), int(gid or uid))


def test_image_exposes_8081_and_starts_exporter_py_with_the_original_flags() -> None:
    assert [ins.arguments for ins in final_stage() if ins.keyword == "EXPOSE"] == ["8081"]
    (entrypoint,) = [ins.arguments for ins in final_stage() if ins.keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python", "exporter.py"]
    assert not [ins for ins in final_stage() if ins.keyword == "CMD"], "arguments come from the pod spec"


def test_image_has_oci_labels_matching_the_project() -> None:
    labels_text = " ".join(ins.arguments for ins in final_stage() if ins.keyword == "LABEL")
    labels = dict(item.split("=", 1) for item in shlex.split(labels_text))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert labels["org.opencontainers.image.title"] == project["name"]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert labels["org.opencontainers.image.description"]


def test_pip_install_step_installs_the_project_from_pyproject_like_ci() -> None:
    """CI (`make test`) installs `-e '.[dev]'`, the image `.`: one dependency list, pyproject.toml."""
    commands = [
        cmd.strip() for ins in INSTRUCTIONS if ins.keyword == "RUN" for cmd in ins.arguments.split("&&")
    ]
    installs = [shlex.split(cmd) for cmd in commands if re.search(r"\bpip install\b", cmd)]
    assert ["/opt/venv/bin/pip", "install", "."] in installs, installs
    runs = " ".join(commands)
    assert not re.search(r"-r\s|requirements", runs), "dependencies come from pyproject.toml only"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"pip install -q -e '\.\[dev\]'", makefile), "CI installs the same project with [dev]"


def ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_every_copied_file_exists_and_is_not_dockerignored() -> None:
    patterns = [p for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    sources = [
        source
        for ins in INSTRUCTIONS
        if ins.keyword == "COPY" and "--from" not in ins.arguments
        for source in ins.arguments.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), f"{source} is excluded by .dockerignore"
    assert ignored(".venv", patterns) and ignored(".git", patterns)
