"""Which Node conditions to patch: one per kind of fault, True while present (node-problem-detector's way).

Pure: (what was written, new diagnosis, now) -> patches. Only changes are written, plus a heartbeat
at most every heartbeat interval on nodes that carry our conditions; a node not judged keeps what it
has; a verdict most of the cluster shares is not the nodes' fault (diagnosis.summarize) and changes
nothing; a node whose agents are gone for good gets its conditions set back to False.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netchecker_exporter.diagnosis.nodes import Diagnosis, NodeDiagnosis, NodeVerdict
from netchecker_exporter.diagnosis.verdicts import CONDITION_KINDS, VERDICTS, ConditionKind, fit_text
from netchecker_exporter.kube_writes.rate_limit import Rate, TokenBucket

TRUE = "True"
FALSE = "False"
OWN_TYPES = frozenset(kind.type for kind in CONDITION_KINDS)


PATCH_RATE = Rate(burst=50, per_second=10.0)


@dataclass(frozen=True, slots=True)
class ConditionSettings:
    heartbeat_seconds: float = 300.0
    gone_after_seconds: float = 300.0
    """How long a node is missing from the diagnosis (its agent pods deleted) before it is cleared."""
    rate: Rate = PATCH_RATE
    """Node status patches of the whole fleet; what it refuses is patched at a later pass."""


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str
    transition_at: float
    """lastTransitionTime: when the status last changed."""


@dataclass(frozen=True, slots=True)
class ConditionPatch:
    node: str
    conditions: tuple[Condition, ...]
    at: float
    """lastHeartbeatTime."""


class ConditionPlanner:
    def __init__(self, settings: ConditionSettings, now: float) -> None:
        self._settings = settings
        self._written: dict[str, dict[str, Condition]] = {}
        self._last_write: dict[str, float] = {}
        self._missing_since: dict[str, float] = {}
        self._bucket = TokenBucket(settings.rate, now)

    def reset(self) -> None:
        """Forget every account (a new leader reads the Nodes again)."""
        self._written.clear()
        self._last_write.clear()
        self._missing_since.clear()

    def seed(self, node: str, conditions: Mapping[str, Condition], heartbeat_at: float) -> None:
        """What a Node already carries (read at leadership start), so only differences are written."""
        own = {t: c for t, c in conditions.items() if t in OWN_TYPES}
        if own:
            self._written[node] = own
            self._last_write[node] = heartbeat_at

    def plan(self, diagnosis: Diagnosis, now: float) -> list[ConditionPatch]:
        """Changed nodes first (worst verdict first), then the gone, then heartbeats; as the rate allows."""
        pattern = _cluster_pattern(diagnosis)
        changed, beats = [], []
        seen = set()
        for node in diagnosis.nodes:
            seen.add(node.node)
            self._missing_since.pop(node.node, None)
            if node.verdict is NodeVerdict.STARTING or (not node.findings and node.node not in self._written):
                continue  # not judged; or healthy and carrying nothing of ours (most nodes): nothing to do
            desired = self._desired(node, pattern, now)
            if self._differs(node.node, desired):
                changed.append(ConditionPatch(node.node, desired, now))
            elif self._heartbeat_due(node.node, now):
                beats.append(ConditionPatch(node.node, self._refreshed(node.node, desired), now))
        gone = self._gone(seen, now)
        return [patch for patch in (*changed, *gone, *beats) if self._bucket.take(now)]

    def _desired(self, node: NodeDiagnosis, pattern: NodeVerdict | None, now: float) -> tuple[Condition, ...]:
        found: dict[str, tuple[str, str]] = {}
        for finding in node.findings:
            signal = VERDICTS[finding.verdict]
            if signal.condition is not None and signal.event_reason is not None:
                found.setdefault(signal.condition.type, (signal.event_reason, fit_text(finding.reason)))
        held = {VERDICTS[pattern].condition} if pattern is not None else set()
        written = self._written.get(node.node, {})
        conditions = []
        for kind in CONDITION_KINDS:
            if kind in held:
                if kind.type in written:
                    conditions.append(written[kind.type])
                continue
            status = TRUE if kind.type in found else FALSE
            reason, message = found[kind.type] if kind.type in found else _clear(kind)
            before = written.get(kind.type)
            since = before.transition_at if before is not None and before.status == status else now
            conditions.append(Condition(kind.type, status, reason, message, since))
        return tuple(conditions)

    def _differs(self, node: str, desired: tuple[Condition, ...]) -> bool:
        """A changed status or reason; a False we never wrote is no change (absent means no problem)."""
        written = self._written.get(node, {})
        for condition in desired:
            before = written.get(condition.type)
            if before is None:
                if condition.status == TRUE:
                    return True
            elif (before.status, before.reason) != (condition.status, condition.reason):
                return True
        return False

    def _heartbeat_due(self, node: str, now: float) -> bool:
        last = self._last_write.get(node)
        return last is not None and now - last >= self._settings.heartbeat_seconds

    def _refreshed(self, node: str, desired: tuple[Condition, ...]) -> tuple[Condition, ...]:
        """The heartbeat writes the types the node carries, with today's messages."""
        written = self._written.get(node, {})
        return tuple(c for c in desired if c.type in written)

    def _gone(self, seen: set[str], now: float) -> list[ConditionPatch]:
        patches = []
        for node in self._written.keys() - seen:
            since = self._missing_since.setdefault(node, now)
            if now - since < self._settings.gone_after_seconds:
                continue
            written = self._written[node]
            if all(c.status == FALSE for c in written.values()):
                self.forget(node)
                continue
            cleared = []
            for kind in CONDITION_KINDS:
                if kind.type in written:
                    reason, message = _clear(kind)
                    before = written[kind.type]
                    since_at = before.transition_at if before.status == FALSE else now
                    cleared.append(Condition(kind.type, FALSE, reason, message + " (agents gone)", since_at))
            patches.append(ConditionPatch(node, tuple(cleared), now))
        return patches

    def written(self, patch: ConditionPatch) -> None:
        """The patch is on the Node: the next plan diffs against it."""
        conditions = self._written.setdefault(patch.node, {})
        conditions.update({c.type: c for c in patch.conditions})
        self._last_write[patch.node] = patch.at

    def forget(self, node: str) -> None:
        """The Node is gone (404), or carries nothing of ours worth keeping."""
        self._written.pop(node, None)
        self._last_write.pop(node, None)
        self._missing_since.pop(node, None)

    def carried(self, node: str) -> Mapping[str, Condition]:
        return dict(self._written.get(node, {}))


def _clear(kind: ConditionKind) -> tuple[str, str]:
    return kind.clear_reason, kind.clear_message


def _cluster_pattern(diagnosis: Diagnosis) -> NodeVerdict | None:
    """The node verdict most of the cluster shares, if the summary found one."""
    try:
        verdict = NodeVerdict(diagnosis.cluster.verdict)
    except ValueError:
        return None
    return verdict if VERDICTS[verdict].condition is not None else None
