"""The merged site view as a self-contained HTML page (``merge -o site.html``): the reports
merged, the hosts whose check did not run, every flow with its verdict, who measured it,
what the responders saw and why nobody measured a gap, then the flows not applicable.

Like the check's page (render/html.py): no network fetch, styles inline, every text from
a report escaped (host names, reasons and paths come from the fleet, not from sepcheck).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from html import escape

from sepcheck.merge import SiteView, Status
from sepcheck.render.merge import (
    direction_text,
    measured_texts,
    port_text,
    responder_line,
    site_headline,
    site_summary,
)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:.9em;vertical-align:top}
th{background:#f0f0f0}td code{white-space:nowrap}
.pass{background:#e6f4ea}.warn{background:#fff4d6}.fail{background:#fde2e1}
.gap{background:#ececec}.na{color:#666}
.v{font-weight:bold}.pass .v{color:#1e7d32}.warn .v{color:#8a6100}.fail .v{color:#b3261e}
"""


def site_html(view: SiteView, fail_on_warning: bool = False) -> str:
    """The page, whole: a site view is one row per catalogue flow, a few hundred at most."""
    return "".join(_page(view, fail_on_warning))


def _page(view: SiteView, fail_on_warning: bool) -> Iterator[str]:
    word = site_headline(view, fail_on_warning)
    # Only a pass is green: an incomplete or interrupted view is amber.
    colour = "pass" if word == "PASS" else "fail" if word.startswith("FAIL") else "warn"
    yield (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sepcheck site view: {escape(word)}</title><style>{_STYLE}</style>"
        "</head><body>\n"
        f'<h1 id="verdict" class="{colour}">sepcheck site view: {escape(word)}</h1>\n'
        f'<p id="summary">{escape(site_summary(view, fail_on_warning))}</p>\n'
    )
    yield from _reports(view)
    if view.missing:
        yield '<h2>Hosts not measured</h2><table id="missing">'
        yield "<tr><th>host</th><th>roles</th><th>why their check did not run</th></tr>\n"
        for host in view.missing:
            yield _row("fail", host.host, ", ".join(host.roles), host.reason)
        yield "</table>\n"
    yield from _flows(view)
    yield from _not_applicable(view)
    yield "</body></html>\n"


def _reports(view: SiteView) -> Iterator[str]:
    yield '<h2>Reports</h2><table id="reports"><tr><th>host</th><th>roles</th>'
    yield "<th>started</th><th>verdict</th><th>report</th></tr>\n"
    for path, report in view.reports:
        verdict = report.verdict.value + ("" if report.complete else " (interrupted)")
        yield _row(
            report.verdict.value,
            report.vantage.hostname,
            ", ".join(report.vantage.role),
            report.started_at,
            verdict,
            str(path),
        )
    for path, listen in view.listens:
        done = "" if listen.complete else " (interrupted)"
        yield _row("", listen.hostname, "responder", listen.started, "listened" + done, str(path))
    yield "</table>\n"


def _flows(view: SiteView) -> Iterator[str]:
    yield (
        '<h2>Flows</h2><table id="flows"><tr><th>verdict</th><th>flow</th><th>port</th>'
        "<th>direction</th><th>measured from</th><th>responders</th>"
        "<th>not measured</th></tr>\n"
    )
    several_ports = any(len(f.ports) > 1 for f in view.flows)
    for flow in view.flows:
        if flow.status is Status.NOT_APPLICABLE:
            continue
        verdict = flow.verdict.value if flow.verdict else "gap"
        missing = [h.line for h in flow.missing] if flow.measured else [flow.why]
        yield (
            f'<tr class="{verdict}" data-flow="{escape(flow.entry.id)}">'
            f'<td class="v">{escape(verdict.upper())}</td>'
            f"<td><code>{escape(flow.entry.id)}</code></td><td>{escape(port_text(flow))}</td>"
            f"<td>{escape(direction_text(flow))}</td>"
            f"<td>{_lines(measured_texts(flow, several_ports))}</td>"
            f"<td>{_lines(responder_line(r) for r in flow.responders)}</td>"
            f"<td>{_lines(missing)}</td></tr>\n"
        )
    yield "</table>\n"


def _not_applicable(view: SiteView) -> Iterator[str]:
    if not view.not_applicable:
        return
    yield '<h2>Not applicable (left out by every report)</h2><table id="not-applicable">'
    yield "<tr><th>flow</th><th>port</th><th>direction</th><th>why</th></tr>\n"
    for flow in view.not_applicable:
        why = [flow.why, *(h.line for h in flow.missing)]
        yield (
            f'<tr class="na"><td><code>{escape(flow.entry.id)}</code></td>'
            f"<td>{escape(port_text(flow))}</td><td>{escape(direction_text(flow))}</td>"
            f"<td>{_lines(why)}</td></tr>\n"
        )
    yield "</table>\n"


def _lines(lines: Iterable[str]) -> str:
    return "<br>".join(escape(line) for line in lines if line)


def _row(css: str, *cells: str) -> str:
    return (
        f'<tr class="{escape(css)}">' + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>\n"
    )
