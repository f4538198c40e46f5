"""The status page at /: one self-contained HTML page rendered from the Snapshot's diagnosis.

Pure: (snapshot, now, links) -> HTML. No external assets (clusters are often offline), inline CSS,
a meta refresh; symbols and words next to every colour. Node names and URLs come from clients,
so every value goes through html.escape. Broken nodes come first; healthy ones are folded away.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from netchecker_exporter.diagnosis.history import EMPTY_HISTORY, History
from netchecker_exporter.diagnosis.nodes import (
    DEGRADED_CLUSTER,
    HEALTHY_CLUSTER,
    UNKNOWN_CLUSTER,
    Aspect,
    NodeDiagnosis,
    NodeVerdict,
    TargetDiagnosis,
    TargetVerdict,
)
from netchecker_exporter.diagnosis.verdicts import ALERTS
from netchecker_exporter.http.status_timeline import render_timeline
from netchecker_exporter.report import format_timestamp
from netchecker_exporter.snapshot import Snapshot

ROWS_SHOWN = 1000
"""Rows per table; beyond that the page points at /api/v1/diagnosis (a browser chokes on 5,000 rows)."""
TARGET_DOWN_ALERT = "NetcheckerProbeTargetDown"
SYMBOL = {True: "✔", False: "✖", None: "?"}
WORD = {True: "ok", False: "failing", None: "unknown"}
COLUMNS = (
    ("pod_network", "Pod network"),
    ("host_network", "Host network"),
    ("dns", "DNS"),
    ("clock", "Clock"),
    ("probes", "Probes"),
)


@dataclass(frozen=True, slots=True)
class PageLinks:
    runbook_url: str = "runbook"
    """Links are relative, so the page also works behind a path prefix (kubectl proxy, an ingress)."""
    refresh_seconds: int = 10


DEFAULT_LINKS = PageLinks()


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def runbook_link(links: PageLinks, alert: str) -> str:
    return f'<a href="{e(links.runbook_url)}#{e(alert.lower())}">runbook</a>'


def render_status_page(snapshot: Snapshot, *, now: float, links: PageLinks) -> str:
    diagnosis = snapshot.diagnosis
    broken = [n for n in diagnosis.nodes if n.verdict is not NodeVerdict.HEALTHY]
    healthy = [n for n in diagnosis.nodes if n.verdict is NodeVerdict.HEALTHY]
    parts = [
        _head(links),
        _cluster(snapshot, now),
        _targets(diagnosis.targets, links),
        _flapping(broken, links),
        _nodes_table(
            "Nodes with a problem",
            broken,
            links,
            empty="No node has a problem.",
            history=snapshot.history,
            now=now,
        ),
        _healthy(healthy, links),
        _footer(links),
    ]
    return "".join(parts)


STYLE = """
:root{--ok:#17643a;--bad:#a4161a;--warn:#8a5a00;--mute:#555;--line:#ddd}
*{box-sizing:border-box}
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;padding:12px;max-width:1400px;color:#111}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}
.verdict{border:2px solid;border-radius:6px;padding:10px 12px;margin:8px 0}
.verdict.ok{border-color:var(--ok)}.verdict.bad{border-color:var(--bad)}
.big{font-size:1.25em;font-weight:600}.mute{color:var(--mute)}
.chips span{display:inline-block;border:1px solid var(--line);border-radius:4px;padding:1px 6px;margin:2px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:5px 6px;
text-align:left;vertical-align:top;overflow-wrap:break-word}th{background:#f4f4f4}
.nowrap{white-space:nowrap}td.reason{min-width:16em;overflow-wrap:anywhere}td.aspect{min-width:6em;overflow-wrap:anywhere}
.s-ok{color:var(--ok)}.s-bad{color:var(--bad);font-weight:600}.s-unknown{color:var(--warn)}
code{font-size:.9em;word-break:break-all}summary{cursor:pointer;font-weight:600;padding:6px 0}
nav{display:flex;flex-wrap:wrap;gap:4px 14px}
.history{margin-top:6px}svg.timeline{display:block;width:100%;min-width:8em;background:#eee}
.t-ok{fill:var(--ok)}.t-bad{fill:var(--bad)}.t-unknown{fill:#888}
.axis{display:flex;justify-content:space-between;font-size:.8em;color:var(--mute)}
ul.changes{margin:.2em 0;padding-left:1.2em;font-size:.9em}#flapping li{margin:4px 0}
@media (max-width:760px){thead{display:none}table,tbody,tr,td{display:block;width:100%}
tr{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:4px}td{border:0;padding:3px 6px}
td.reason,td.aspect{min-width:0}td{overflow-wrap:anywhere}.nowrap{white-space:normal}
td::before{content:attr(data-label) ": ";font-weight:600;color:var(--mute)}}
"""


def _head(links: PageLinks) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(links.refresh_seconds)}">'
        f"<title>netchecker status</title><style>{STYLE}</style></head><body>"
        "<h1>netchecker: what is broken, where</h1>"
    )


STALE_AFTER_SECONDS = 60.0
"""A diagnosis older than this is flagged: the reconcile loop is failing (NetcheckerReconcileStalled)."""


def _cluster(snapshot: Snapshot, now: float) -> str:
    cluster = snapshot.diagnosis.cluster
    ok = {HEALTHY_CLUSTER: True, UNKNOWN_CLUSTER: None}.get(cluster.verdict, False)
    word = cluster.verdict.replace("_", " ")
    label = (
        word
        if cluster.verdict in {HEALTHY_CLUSTER, DEGRADED_CLUSTER, UNKNOWN_CLUSTER}
        else f"cluster-wide: {word}"
    )
    chips = "".join(
        f'<span data-verdict="{e(v.value)}">{e(v.value.replace("_", " "))}: {count}</span>'
        for v, count in cluster.counts.items()
        if count
    )
    return (
        f'<section id="cluster" class="verdict {"ok" if ok else "bad"}" data-verdict="{e(cluster.verdict)}">'
        f'<div class="big">{SYMBOL[ok]} Cluster: {e(label)}</div>'
        f'<div id="cluster-reason">{e(cluster.reason)}</div>'
        f'<div class="chips">{chips}</div>{_freshness(snapshot, now)}'
        "</section>"
    )


def _freshness(snapshot: Snapshot, now: float) -> str:
    when = snapshot.last_success_timestamp
    judged = f"{snapshot.diagnosis.cluster.nodes_judged} nodes judged"
    if when is None:
        return f'<div class="mute">no reconcile pass yet; {judged}</div>'
    age = f"as of {e(format_timestamp(when))} ({now - when:.0f} s ago); {judged}"
    if now - when <= STALE_AFTER_SECONDS:
        return f'<div class="mute">{age}</div>'
    return f'<div id="stale" class="s-bad">✖ stale: {age}; the server cannot refresh it (see its log)</div>'


def _targets(targets: Iterable[TargetDiagnosis], links: PageLinks) -> str:
    rows = []
    for target in sorted(targets, key=lambda t: (t.verdict is TargetVerdict.OK, t.url)):
        ok = target.verdict is TargetVerdict.OK
        alert = (
            "" if target.verdict is not TargetVerdict.DOWN else " " + runbook_link(links, TARGET_DOWN_ALERT)
        )
        rows.append(
            f'<tr data-url="{e(target.url)}" data-verdict="{e(target.verdict.value)}">'
            f'<td data-label="URL"><code>{e(target.url)}</code></td>'
            f"{_verdict_cell(target.verdict.value, ok=ok)}"
            f'<td data-label="Why">{e(target.reason)}{alert}</td></tr>'
        )
    if not rows:
        return ""
    head = "<thead><tr><th>Probe target</th><th>Verdict</th><th>Why</th></tr></thead>"
    return f'<h2>Probe targets</h2><table id="targets">{head}<tbody>{"".join(rows)}</tbody></table>'


def _verdict_cell(verdict: str, *, ok: bool | None) -> str:
    words = e(verdict.replace("_", " "))
    return f'<td data-label="Verdict" class="nowrap {_state_class(ok=ok)}">{SYMBOL[ok]} {words}</td>'


def _state_class(*, ok: bool | None) -> str:
    return {True: "s-ok", False: "s-bad", None: "s-unknown"}[ok]


def _cell(label: str, aspect: Aspect) -> str:
    return (
        f'<td data-label="{e(label)}" class="aspect {_state_class(ok=aspect.ok)}" title="{WORD[aspect.ok]}">'
        f"{SYMBOL[aspect.ok]} {e(aspect.text)}</td>"
    )


def _flapping(nodes: list[NodeDiagnosis], links: PageLinks) -> str:
    """Nodes whose verdict keeps changing, whatever they show right now, with a link to their history."""
    found = [(n, f) for n in nodes for f in n.findings if f.verdict is NodeVerdict.FLAPPING]
    if not found:
        return ""
    items = "".join(
        f'<li data-flapping-node="{e(node.node)}"><b>{e(node.node or "(no node name)")}</b>: '
        f"{SYMBOL[False]} {e(finding.reason)}; now {e(node.verdict.value.replace('_', ' '))}. "
        f"{_history_link(node.node)}"
        f"{runbook_link(links, ALERTS[NodeVerdict.FLAPPING])}</li>"
        for node, finding in found[:ROWS_SHOWN]
    )
    return f'<section id="flapping"><h2>Flapping nodes ({len(found)})</h2><ul>{items}</ul></section>'


def _history_link(node: str) -> str:
    """A node without a name (the agent's env var unset) has no query to ask for: no link."""
    return f'<a href="api/v1/diagnosis/history?node={e(quote(node, safe=""))}">history</a> ' if node else ""


def _row(node: NodeDiagnosis, links: PageLinks, history: History = EMPTY_HISTORY, now: float = 0.0) -> str:
    ok = (
        True
        if node.verdict is NodeVerdict.HEALTHY
        else (None if node.verdict is NodeVerdict.STARTING else False)
    )
    alert = ALERTS.get(node.verdict)
    more = "".join(f"<li>{e(f.reason)}</li>" for f in node.findings[1:])
    evidence = f"<ul>{more}</ul>" if more else ""
    link = " " + runbook_link(links, alert) if alert else ""
    timeline = render_timeline(node.node, history.nodes.get(node.node), now) if now else ""
    cells = "".join(_cell(title, node.aspects[name]) for name, title in COLUMNS)
    return (
        f'<tr data-node="{e(node.node)}" data-verdict="{e(node.verdict.value)}">'
        f'<td data-label="Node" class="nowrap"><b>{e(node.node or "(no node name)")}</b></td>'
        f"{_verdict_cell(node.verdict.value, ok=ok)}"
        f'<td data-label="Why" class="reason">{e(node.reason)}{link}{evidence}{timeline}</td>{cells}</tr>'
    )


def _nodes_table(  # noqa: PLR0913 (keyword-only: what the problem table adds)
    title: str,
    nodes: list[NodeDiagnosis],
    links: PageLinks,
    *,
    empty: str,
    history: History = EMPTY_HISTORY,
    now: float = 0.0,
) -> str:
    if not nodes:
        return f'<h2>{e(title)}</h2><p id="no-problems">{SYMBOL[True]} {e(empty)}</p>'
    head = "".join(f"<th>{e(t)}</th>" for t in ("Node", "Verdict", "Why", *(c[1] for c in COLUMNS)))
    rows = "".join(_row(node, links, history, now) for node in nodes[:ROWS_SHOWN])
    hidden = len(nodes) - ROWS_SHOWN
    api = '<a href="api/v1/diagnosis">/api/v1/diagnosis</a>'
    cut = f'<p class="mute">{hidden} more not shown: see {api}.</p>' if hidden > 0 else ""
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f"<h2>{e(title)} ({len(nodes)})</h2>{table}{cut}"


def _healthy(nodes: list[NodeDiagnosis], links: PageLinks) -> str:
    if not nodes:
        return ""
    table = _nodes_table("Healthy nodes", nodes, links, empty="")
    summary = f"<summary>{SYMBOL[True]} {len(nodes)} healthy nodes (show)</summary>"
    return f'<details id="healthy">{summary}{table}</details>'


def _footer(links: PageLinks) -> str:
    paths = ("metrics", "api/v1/diagnosis", "api/v1/connectivity_check", "api/v1/agents/")
    anchors = "".join(f'<a href="{p}">/{p}</a>' for p in paths)
    return (
        f'<h2>Elsewhere</h2><nav>{anchors}<a href="{e(links.runbook_url)}">runbook</a></nav>'
        f'<p class="mute">Refreshes every {int(links.refresh_seconds)} s. '
        "Symbols: ✔ ok, ✖ failing, ? unknown or not judged.</p>"
        "</body></html>"
    )
