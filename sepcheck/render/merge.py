"""Render the merged site view as a rich table or JSON."""

from __future__ import annotations

import json

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepcheck.merge import ResponderView, SiteFlow, SiteView, Status
from sepcheck.model import Expect
from sepcheck.render.words import plural

_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}


def _port(flow: SiteFlow) -> Text:
    """The ports measured; the catalogue's default only when nobody measured the flow
    (the topology may have moved it, so it is marked as a default)."""
    protocol = flow.entry.protocol.value
    if flow.ports:
        return Text(", ".join(f"{protocol}/{p}" for p in flow.ports))
    return Text(f"{protocol}/{flow.entry.port} (default)", style="dim")


def _direction(flow: SiteFlow) -> str:
    arrow = "-x>" if flow.entry.expect is Expect.UNREACHABLE else "->"
    return f"{flow.entry.source} {arrow} {flow.entry.destination}"


def site_table(view: SiteView) -> RenderableType:
    """Measured flows and gaps, in catalogue order; then, apart, the flows that apply to
    no report's host (not gaps: nothing was missed)."""
    table = Table(title="sepcheck site view", box=box.SIMPLE_HEAD)
    for column in ("", "flow", "port", "direction", "measured from"):
        table.add_column(column, overflow="fold")
    several_ports = any(len(f.ports) > 1 for f in view.flows)
    for flow in view.flows:
        if flow.status is Status.NOT_APPLICABLE:
            continue
        verdict = flow.verdict.value if flow.verdict else None
        label = Text(verdict.upper(), style=_STYLE[verdict]) if verdict else Text("GAP", "dim")
        measured = (
            "; ".join(
                f"{m.hostname} as {', '.join(m.roles)}: {m.verdict.value} "
                f"({', '.join(f'{n:,} {s}' for s, n in m.states.items())})"
                + (f" on {', '.join(map(str, m.ports))}" if several_ports else "")
                + ("" if m.complete else " [interrupted]")
                for m in flow.measured
            )
            or f"not measured: {flow.why}"
        )
        for seen in flow.responders:
            measured += "\n" + _responder_line(seen)
        table.add_row(label, flow.entry.id, _port(flow), _direction(flow), Text(measured))
    apart = view.not_applicable
    if not apart:
        return table
    excluded = Table(title="not applicable (left out by every report)", box=box.SIMPLE_HEAD)
    for column in ("flow", "port", "direction", "why"):
        excluded.add_column(column, overflow="fold")
    for flow in apart:
        excluded.add_row(flow.entry.id, _port(flow), _direction(flow), Text(flow.why))
    return Group(table, excluded)


def _responder_line(seen: ResponderView) -> str:
    """The other direction, in a line: what the responder on the destination saw."""
    if not seen.listening:
        return f"responder on {seen.hostname}: not listening ({seen.why})"
    if not seen.probes:
        return f"responder on {seen.hostname}: received none of the probes"
    return (
        f"responder on {seen.hostname}: received {plural(seen.probes, 'probe')} from "
        + ", ".join(seen.sources)
    )


def site_headline(view: SiteView) -> str:
    """As ``headline`` for one report: a view with an interrupted report, or with nothing
    measured, never says PASS."""
    if view.failing:
        return "FAIL" if view.complete else "FAIL (INTERRUPTED)"
    if not view.complete:
        return "INTERRUPTED"
    if not any(f.measured for f in view.flows):
        return "NOTHING CHECKED"
    return "PASS"


def site_summary(view: SiteView) -> str:
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for flow in view.flows:
        if flow.verdict:
            counts[flow.verdict.value] += 1
    return (
        f"{site_headline(view)}: {plural(len(view.reports), 'report')}, "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
        + f", {len(view.gaps)} flows needed but measured by nobody (gaps), "
        f"{len(view.not_applicable)} not applicable"
    )


def site_json(view: SiteView) -> str:
    return json.dumps(view.as_dict(), indent=2) + "\n"
