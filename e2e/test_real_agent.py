"""What the real Go agent sends, as the exporter stores it (only with the real agent built)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.conftest import AgentFactory, ExporterFactory
from e2e.peers import Peers
from tests.support.polling import wait_until

GO_SATURATED_MILLISECONDS = 9223372036854
"""Go's largest time.Duration in ms: go-httpstat v0.2.0's Total and ContentTransfer when there was no DNS."""


def test_a_probe_to_an_ip_literal_url_reports_a_saturated_total(
    peers: Peers, exporter: ExporterFactory, agents: AgentFactory, tmp_path: Path
) -> None:
    if peers.agent is None:
        pytest.skip("the real agent was not built (the module proxy refuses it; see e2e/build-peers)")
    process = exporter("-check-interval=1")  # no pod source: every agent that reports is expected
    agents("netchecker-agent-real-1", "node-1", process.endpoint, 2)
    stored = wait_until(
        lambda: process.agents().get("netchecker-agent-real-1"), 20, "the real agent's report"
    )
    (probe,) = stored["network_probes"]
    assert probe["URL"] == f"http://{process.endpoint}/api/v1/ping"
    assert (probe["ConnectionResult"], probe["HTTPCode"], probe["DNSLookup"]) == (1, 200, 0)
    assert probe["Total"] == GO_SATURATED_MILLISECONDS
    assert probe["ContentTransfer"] == GO_SATURATED_MILLISECONDS
    assert stored["report_interval"] == 2 and stored["nodename"] == "node-1"
    assert process.connectivity()[0] == 200
    # Untimed phases are no samples on /metrics (the timed ones are), as agreed for issue 9 / 12.
    series = f'{{agent="node-1-private_network",url="{probe["URL"]}"}}'

    def rendered() -> str | None:
        text = process.metrics()
        return text if f"ncagent_http_probe_code{series}" in text else None

    metrics = wait_until(rendered, 10, "the agent on /metrics")
    assert f"ncagent_http_probe_connect_time_ms{series}" in metrics
    assert f"ncagent_http_probe_total_time_ms{series}" not in metrics
    assert f"ncagent_http_probe_content_transfer_time_ms{series}" not in metrics
