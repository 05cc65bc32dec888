"""A self-contained HTML report: the matrix colour-coded, filterable by state, verdict and
role, with the run's parameters and summary. No network fetches: styles and the small
filtering script are inline, so the file works as a ticket attachment or offline.

Filters can also be given in the URL fragment (``report.html#state=filtered&role=client``),
which makes a filtered view linkable (and testable in a headless browser).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from html import escape

from sepcheck.render.flowtext import flow_result_text
from sepcheck.render.matrix import headline
from sepcheck.render.words import duration
from sepcheck.report.model import ReportHead, Summary
from sepcheck.report.rows import ResultRow
from sepcheck.results import State, Verdict

RESULT_ROWS_SHOWN = 5000
"""Probe rows in the detail table; larger runs point to the JSON report for the rest.
Failing rows come first, then warnings, then passes: what is cut is what needs no look."""

_ROW_ORDER = (Verdict.FAIL, Verdict.WARN, Verdict.PASS)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:.9em;vertical-align:top}
th{background:#f0f0f0}td code{white-space:nowrap}
.pass{background:#e6f4ea}.warn{background:#fff4d6}.fail{background:#fde2e1}
.v{font-weight:bold}.pass .v{color:#1e7d32}.warn .v{color:#8a6100}.fail .v{color:#b3261e}
.meta td{border:none;padding:2px 8px}.filters label{margin-right:1em}code{font-size:.9em}
"""

_SCRIPT = """
function applyFilters(){
  var v=document.getElementById('f-verdict').value,s=document.getElementById('f-state').value,
      r=document.getElementById('f-role').value,shown=0;
  document.querySelectorAll('tr[data-verdict]').forEach(function(row){
    var ok=(!v||row.dataset.verdict===v)&&(!s||(' '+row.dataset.states+' ').indexOf(' '+s+' ')>=0)
      &&(!r||row.dataset.source===r||row.dataset.destination===r);
    row.style.display=ok?'':'none'; if(ok&&row.dataset.kind==='flow'){shown++;}
  });
  document.getElementById('shown').textContent=shown;
}
function fromHash(){
  var params=new URLSearchParams(location.hash.slice(1));
  [['verdict','f-verdict'],['state','f-state'],['role','f-role']].forEach(function(p){
    if(params.has(p[0])){document.getElementById(p[1]).value=params.get(p[0]);}
  });
  applyFilters();
}
window.addEventListener('hashchange',fromHash);
document.addEventListener('DOMContentLoaded',fromHash);
"""

_STATES = tuple(s.value for s in State)


def _options(values: Sequence[str]) -> str:
    return '<option value="">all</option>' + "".join(
        f'<option value="{escape(v)}">{escape(v)}</option>' for v in values
    )


def html_chunks(head: ReportHead, rows: Iterable[ResultRow]) -> Iterator[str]:
    """The page, piece by piece; ``rows`` is read once per verdict shown."""
    yield _page_start(head)
    yield _meta_table(head)
    s = head.summary
    if s.gaps:
        yield f"<p>Not checked (no destination hosts): {escape(', '.join(s.gaps))}</p>\n"
    roles = sorted({f.source for f in s.flow_results} | {f.destination for f in s.flow_results})
    yield _filters(roles)
    yield from _flow_table(s)
    yield from _probe_table(s, rows)
    yield "</body></html>\n"


def _page_start(head: ReportHead) -> str:
    word = headline(head)
    title = f"sepcheck {word}: {head.vantage.hostname}"
    # An interrupted run that found no failure, or one that probed nothing, is amber: green
    # would say it passed.
    colour = "pass" if word == "PASS" else "fail" if word.startswith("FAIL") else "warn"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script></head><body>\n"
        f'<h1 id="verdict" class="{colour}">{escape(title)}</h1>\n'
    )


def _meta_table(head: ReportHead) -> str:
    """The run's facts: who, when, how much, with which settings."""
    s = head.summary
    p = head.parameters
    meta = [
        ("roles", ", ".join(head.vantage.role)),
        ("stage", p.stage),
        ("started", head.started_at),
        ("finished", head.finished_at + ("" if head.complete else " (interrupted)")),
        ("probes", f"{s.probes:,} of {s.planned:,} planned, {duration(s.duration_s)}"),
        ("flows", ", ".join(f"{s.flows.get(v.value, 0)} {v.value}" for v in Verdict)),
        ("states", ", ".join(f"{n:,} {k}" for k, n in sorted(s.states.items()))),
        (
            "topology",
            f"{head.topology.path or '(command line)'} sha256 {head.topology.sha256[:12]}",
        ),
        *_detected(head),
        (
            "parameters",
            f"timeout {p.timeout} s, retries {p.retries}-{p.max_retries}, "
            f"concurrency {p.concurrency}, rate {p.rate:g}/s, tool {head.tool_version}",
        ),
    ]
    return (
        '<table class="meta">'
        + "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in meta)
        + "</table>\n"
    )


def _detected(head: ReportHead) -> list[tuple[str, str]]:
    d = head.detected
    if d is None:
        return []
    return [("SEP version", f"{d.version} (read from {d.source})" if d.version else d.source)]


def _filters(roles: Sequence[str]) -> str:
    return (
        '<div class="filters"><label>verdict <select id="f-verdict" onchange="applyFilters()">'
        + _options([v.value for v in Verdict])
        + '</select></label><label>state <select id="f-state" onchange="applyFilters()">'
        + _options(_STATES)
        + '</select></label><label>role <select id="f-role" onchange="applyFilters()">'
        + _options(roles)
        + '</select></label> <span id="shown"></span> flows shown</div>\n'
    )


def _flow_table(s: Summary) -> Iterator[str]:
    yield (
        '<h2>Flows</h2><table id="matrix"><tr><th>verdict</th><th>flow</th><th>port</th>'
        "<th>from</th><th>to</th><th>result</th><th>purpose</th></tr>\n"
    )
    for f in s.flow_results:
        states = " ".join(f.states)
        result = flow_result_text(f, detailed=True)
        yield (
            f'<tr class="{f.verdict.value}" data-kind="flow" data-verdict="{f.verdict.value}" '
            f'data-states="{escape(states)}" data-source="{f.source}" '
            f'data-destination="{f.destination}"><td class="v">{f.verdict.value.upper()}</td>'
            f"<td><code>{escape(f.flow)}</code></td><td>{f.protocol}/{f.port}</td>"
            f"<td>{f.source}</td><td>{f.destination}</td><td>{escape(result)}</td>"
            f"<td>{escape(f.purpose)}</td></tr>\n"
        )
    yield "</table>\n"


def _probe_table(s: Summary, rows: Iterable[ResultRow]) -> Iterator[str]:
    """Up to RESULT_ROWS_SHOWN probe rows, failing first, then what was left out."""
    yield '<h2>Probes</h2><table id="probes"><tr><th>verdict</th><th>flow</th>'
    yield (
        "<th>host</th><th>address</th><th>port</th><th>state</th><th>reason</th>"
        "<th>note</th><th>application check</th><th>rtt ms</th></tr>\n"
    )
    shown: dict[Verdict, int] = dict.fromkeys(_ROW_ORDER, 0)
    for verdict in _ROW_ORDER:
        # One pass over the spools per verdict: results are never all held in memory.
        if sum(shown.values()) >= RESULT_ROWS_SHOWN or not s.verdicts.get(verdict.value):
            continue
        for r in rows:
            if r.verdict is not verdict:
                continue
            if sum(shown.values()) >= RESULT_ROWS_SHOWN:
                break
            shown[verdict] += 1
            yield _probe_row(r)
    yield "</table>\n"
    total = sum(s.verdicts.values())
    if sum(shown.values()) < total:
        left = [
            f"{s.verdicts.get(v.value, 0) - shown[v]:,} {v.value}"
            for v in _ROW_ORDER
            if s.verdicts.get(v.value, 0) > shown[v]
        ]
        yield (
            f"<p>{sum(shown.values()):,} of {total:,} probe results shown, failing first; "
            f"left out: {', '.join(left)}. The JSON report has them all.</p>\n"
        )


def _probe_row(r: ResultRow) -> str:
    rtt = "" if r.rtt_ms is None else f"{r.rtt_ms:.3f}"
    verdict = r.verdict.value
    return (
        f'<tr class="{verdict}" data-kind="probe" data-verdict="{verdict}" '
        f'data-states="{escape(r.state.value)}" data-source="{r.source}" '
        f'data-destination="{r.destination}"><td class="v">{verdict.upper()}</td>'
        f"<td><code>{escape(r.flow)}</code></td><td>{escape(r.host)}</td>"
        f"<td>{escape(r.address or '')}</td><td>{r.protocol.value}/{r.port}</td>"
        f"<td>{escape(r.state.value)}</td><td>{escape(r.detail)}</td>"
        f"<td>{escape(r.note)}</td><td>{escape(_app_text(r))}</td><td>{rtt}</td></tr>\n"
    )


def _app_text(r: ResultRow) -> str:
    """What the application check found, and the server certificate's expiry."""
    if r.app is None:
        return ""
    text = r.app.detail
    if r.app.tls is not None:
        text += f"; certificate {r.app.tls['subject']}, expires {r.app.tls['not_after']}"
    return text
