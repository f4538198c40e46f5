"""The status page's timeline of one node: its verdicts over the last hour as an inline SVG strip,
with the changes in words beside it (colour is never the only signal: a bad stretch is also drawn
taller, each stretch has a title, and the list says when and from what to what).

Pure: (the node's history, now) -> HTML. No script, no external asset; the page's CSP allows none.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from netchecker_exporter.diagnosis.checks import NodeVerdict, age_words
from netchecker_exporter.diagnosis.history import NodeHistory, Transition

WINDOW_SECONDS = 3600.0
WIDTH = 600
"""viewBox units; the strip stretches to the cell's width."""
CHANGES_LISTED = 6
"""The newest changes in words; the JSON (linked) has all that are kept."""
FINE = {NodeVerdict.HEALTHY.value: "ok", NodeVerdict.STARTING.value: "unknown"}


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def words(verdict: str) -> str:
    return verdict.replace("_", " ")


def strip_start(node: NodeHistory, now: float, window: float) -> float:
    """The last hour, or less when the node was first seen since: the strip shows what is known."""
    return min(max(now - window, node.since), now - 1.0)


def stretches(node: NodeHistory, start: float, now: float) -> list[tuple[float, float, str]]:
    """(start, end, verdict) from `start` to now, from the node's changes."""
    changes = [t for t in node.verdict_changes if start < t.at <= now]
    verdict = changes[0].before if changes else node.verdict
    points = [(start, verdict), *((t.at, t.after) for t in changes)]
    ends = [at for at, _ in points[1:]] + [now]
    return [(at, end, verdict) for (at, verdict), end in zip(points, ends, strict=True) if end > at]


def _rect(start: float, end: float, verdict: str, origin: float, span: float) -> str:
    state = FINE.get(verdict, "bad")
    x = (start - origin) / span * WIDTH
    width = max((end - start) / span * WIDTH, 0.5)
    y, height = (0, 20) if state == "bad" else (8, 12)
    return (
        f'<rect class="t-{state}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{height}">'
        f"<title>{e(words(verdict))} from {clock(start)} to {clock(end)} UTC</title></rect>"
    )


def _strip(node_name: str, node: NodeHistory, now: float, window: float, changes: int) -> str:
    origin = strip_start(node, now, window)
    span = now - origin
    parts = stretches(node, origin, now)
    bad = sum(end - start for start, end, verdict in parts if FINE.get(verdict, "bad") == "bad")
    label = (
        f"{node_name}: {changes} verdict changes in the last {window / 60:.0f} min, "
        f"{age_words(bad)} of the {age_words(span)} watched with a problem"
    )
    rects = "".join(_rect(start, end, verdict, origin, span) for start, end, verdict in parts)
    first_seen = " (first seen)" if origin > now - window else ""
    return (
        f'<svg class="timeline" role="img" aria-label="{e(label)}" viewBox="0 0 {WIDTH} 20" '
        f'preserveAspectRatio="none" width="100%" height="20">{rects}</svg>'
        f'<div class="axis"><span>{clock(origin)}{first_seen}</span><span>now ({clock(now)} UTC)</span></div>'
    )


def _changes_list(changes: list[Transition], window: float) -> str:
    if not changes:
        return f'<p class="mute">no verdict change in the last {window / 60:.0f} min</p>'
    items = "".join(
        f"<li><time>{clock(t.at)}</time> {e(words(t.before))} → {e(words(t.after))}</li>"
        for t in reversed(changes[-CHANGES_LISTED:])
    )
    more = len(changes) - CHANGES_LISTED
    tail = f'<li class="mute">and {more} earlier</li>' if more > 0 else ""
    return f'<ul class="changes">{items}{tail}</ul>'


def render_timeline(
    node_name: str, node: NodeHistory | None, now: float, window: float = WINDOW_SECONDS
) -> str:
    """The strip and the changes in words, newest first; a node without any change says so."""
    if node is None:
        return ""
    changes = [t for t in node.verdict_changes if now - window < t.at <= now]
    strip, listed = _strip(node_name, node, now, window, len(changes)), _changes_list(changes, window)
    return f'<div class="history" data-history-node="{e(node_name)}">{strip}{listed}</div>'
