"""Faults the demo fleet injects, one per diagnosis verdict, as changes to an agent's report or schedule.

Shared by `make demo`, the in-process view tests and the browser test, so what the demo shows is
what the tests assert. Times are seconds since the fleet started; `after` is when a fault that
changes over time (silence, a reboot) begins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netchecker_exporter.diagnosis.checks import NodeVerdict

PATH_URL = "http://netchecker-probe-path.default.svc:8080/health"
"""Fails from the PROBE_FAILING nodes only: a path problem, not the target."""
DOWN_URL = "http://netchecker-probe-down.default.svc:8080/health"
"""Fails from every node when the fleet's `target_down` is set: the target itself is down."""
SKEW_SECONDS = 90.0
FLAP_EPISODES = 2
"""A flapping node's outages (2 changes each: 4 make it flap); after them it reports steadily and
shows `flapping` until -flap-window has passed, so what a test reads does not depend on the moment."""
FLAP_SILENT_INTERVALS = 4
"""An outage lasts 4 report intervals: outdated after 2, so a pass every 2 intervals still sees it."""
FLAP_PERIOD_INTERVALS = 6
BASE_UPTIME_SECONDS = 86_400


Fault = NodeVerdict
"""A fault the fleet injects is named by the verdict it must produce: one of INJECTED_FAULTS."""
INJECTED_FAULTS = tuple(v for v in NodeVerdict if v not in (NodeVerdict.STARTING, NodeVerdict.HEALTHY))


DEMO_FAULTS = {
    1: Fault.AGENT_MISSING,
    2: Fault.HOST_NETWORK_DOWN,
    3: Fault.POD_NETWORK_DOWN,
    4: Fault.DNS_FAILING,
    5: Fault.PROBE_FAILING,
    6: Fault.CLOCK_SKEW,
    7: Fault.NODE_UNREACHABLE,
    8: Fault.REBOOTED,
    9: Fault.FLAPPING,
}
"""`make demo`'s 20 nodes: these nine are broken, one verdict each; the others are healthy."""


@dataclass(frozen=True, slots=True)
class AgentMoment:
    """One agent at one moment of the run: which fault its node has, and how long the run is on."""

    fault: Fault | None
    hostnet: bool
    elapsed: float
    after: float
    report_interval_seconds: float = 2.0

    @property
    def started(self) -> bool:
        return self.elapsed >= self.after

    def never_reports(self) -> bool:
        return self.fault is Fault.AGENT_MISSING and not self.hostnet

    def silent(self) -> bool:
        """Reported until `after`, then stopped (outdated); a flapping node's agents come back."""
        if self.fault is Fault.FLAPPING:
            return self.in_flap_outage()
        if self.fault is Fault.NODE_UNREACHABLE or (self.fault is Fault.HOST_NETWORK_DOWN and self.hostnet):
            return self.started
        return self.never_reports()

    def in_flap_outage(self) -> bool:
        phase, interval = self.elapsed - self.after, self.report_interval_seconds
        period = FLAP_PERIOD_INTERVALS * interval
        return 0 <= phase < FLAP_EPISODES * period and phase % period < FLAP_SILENT_INTERVALS * interval

    def comes_back(self) -> bool:
        return self.fault is Fault.FLAPPING


def faulty_report(report: dict[str, Any], moment: AgentMoment, now: float) -> dict[str, Any]:
    """`report` as an agent of a node with `moment.fault` would send it at `now`."""
    from bench.payload import rfc3339_nanoseconds

    fault = moment.fault
    changed = {**report, "uptime": BASE_UPTIME_SECONDS + int(moment.elapsed)}
    if fault is Fault.REBOOTED and moment.started:
        changed["uptime"] = 1 + int(moment.elapsed - moment.after)
    if fault is Fault.CLOCK_SKEW:
        changed["hostdate"] = rfc3339_nanoseconds(now + SKEW_SECONDS)
    if fault is Fault.DNS_FAILING and not moment.hostnet:
        changed["nslookup"] = {host: [] for host in report.get("nslookup") or {"netchecker-service": []}}
    return changed


def probe_fails(url: str, moment: AgentMoment, *, target_down: bool) -> bool:
    """Does this agent's probe of `url` fail? (The pod-network fault is the fleet's `failing_nodes`.)"""
    if url == DOWN_URL:
        return target_down
    return url == PATH_URL and moment.fault is Fault.PROBE_FAILING
