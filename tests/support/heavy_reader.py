"""A heavy reader that runs in a process of its own, in a module that imports little.

A spawned process imports the module its function lives in: from a test module that is the
exporter's front and all the test's helpers, most of the reader's CPU before it reads a byte.
"""

from __future__ import annotations

import time

import requests


def read_in_a_loop(url: str, seconds: float) -> list[tuple[int, str, str]]:
    """GET `url` back to back for `seconds`: every answer's status, error and Retry-After."""
    statuses = []
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            response = session.get(url, timeout=10)
            error = response.json().get("error", "") if response.status_code == 503 else ""
            statuses.append((response.status_code, error, response.headers.get("Retry-After", "")))
    return statuses
