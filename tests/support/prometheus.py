"""A real Prometheus in tests: its config, its HTTP API, and whether it has scraped and evaluated."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import RULES_FILE

JOB = "netchecker"
MIN_SCRAPES = 4


@dataclass(frozen=True)
class LiveStack:
    prometheus_url: str
    server_url: str
    fixtures: tuple[dict[str, Any], ...]


def http_get_json(url: str, params: dict[str, str] | None = None) -> Any:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(url + query, timeout=5) as response:
        return json.load(response)


def http_status(url: str, method: str = "GET", body: bytes | None = None) -> int:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def prom_query(stack: LiveStack, expr: str) -> list[dict[str, Any]]:
    answer = http_get_json(f"{stack.prometheus_url}/api/v1/query", {"query": expr})
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def write_prometheus_config(path: Path, server_port: int) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{server_port}"]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))


def scrape_count(stack: LiveStack) -> bool:
    result = prom_query(stack, f'count_over_time(up{{job="{JOB}"}}[1m])')
    return bool(result) and float(result[0]["value"][1]) >= MIN_SCRAPES


def all_rules_evaluated(stack: LiveStack) -> bool:
    groups = http_get_json(f"{stack.prometheus_url}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return bool(rules) and all(not r["lastEvaluation"].startswith("0001") for r in rules)
