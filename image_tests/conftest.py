"""Fixtures of the image tests (`make image-test`): the built image, a real etcd 3.6, the served image."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_tests.podman import image_exists, image_name
from image_tests.served import ServedImage
from tests.support.etcd import EtcdProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "image: needs the image `make image` builds, and podman (make image-test)"
    )


@pytest.fixture(scope="session")
def image() -> str:
    name = image_name()
    if shutil.which("podman") is None or not image_exists(name):
        pytest.skip(f"no image {name}: run `make image-test` (it builds the image first)")
    return name


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """etcd 3.6 from e2e/build-peers' cache, as make image-test finds it, on free loopback ports."""
    if not os.environ.get("NETCHECKER_ETCD_BIN"):
        pytest.skip("NETCHECKER_ETCD_BIN not set: run `make image-test` (e2e/build-peers gives etcd 3.6)")
    process = EtcdProcess(tmp_path / "etcd")
    process.start()
    yield process
    process.kill()


@pytest.fixture
def served(image: str, etcd: EtcdProcess) -> Iterator[ServedImage]:
    served = ServedImage.start(image, etcd.url)
    yield served
    served.container.remove()
