"""Debian's headless Chromium driven by Selenium through /usr/bin/chromedriver (no download, no network)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
ARTIFACTS_ENV = "NETCHECKER_ARTIFACTS_DIR"


def artifacts_dir() -> Path | None:
    """Where screenshots are kept after the run: $NETCHECKER_ARTIFACTS_DIR, else artifacts/ under CI."""
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV])
    return REPO / "artifacts" if os.environ.get("CI") else None


@contextmanager
def chromium(profile: Path, width: int, height: int) -> Iterator[Any]:
    """A WebDriver on a fresh, empty profile directory; quit at the end."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "chromium / chromedriver missing: run scripts/ensure-debian-packages (chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    profile.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def keep_screenshot(path: Path) -> Path | None:
    """Copy a screenshot to the artifacts folder, when there is one."""
    target = artifacts_dir()
    if target is None:
        return None
    target.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, target / path.name))
