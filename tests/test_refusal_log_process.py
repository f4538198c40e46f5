"""A real `python exporter.py -v=5` (the level the manifests and kubespray run) under a flood of bad
reports: its log grows by a few lines, not one per refusal, and the refusal counter counts them all."""

from __future__ import annotations

import pytest
import requests

from netchecker_exporter.http.log_limiter import FIRST_PER_KEY
from tests.support.exporter import ExporterProcess, metric_value

pytestmark = [pytest.mark.process]

BAD_REPORTS = 500


def test_a_flood_of_bad_reports_writes_a_few_log_lines_at_v5_and_is_counted_exactly() -> None:
    server = ExporterProcess("-v=5", "-logtostderr")
    session = requests.Session()
    headers = {"Content-Type": "application/json"}
    try:
        for _ in range(BAD_REPORTS):
            url = f"{server.url}/api/v1/agents/netchecker-agent-bad"
            assert session.post(url, data=b"{not json", headers=headers, timeout=10).status_code == 400
        refused = metric_value(
            server.get("/metrics").text, 'netchecker_reports_refused_total{reason="invalid"}'
        )
        assert refused == BAD_REPORTS
    finally:
        _code, stderr = server.stop()
    logged = [line for line in stderr.splitlines() if "-> 400" in line]
    assert len(logged) == FIRST_PER_KEY, stderr[-2000:]
