"""Render the merged site view as a rich table or JSON."""

from __future__ import annotations

import json

from rich import box
from rich.table import Table

from sepcheck.merge import SiteView

_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}


def site_table(view: SiteView) -> Table:
    table = Table(title="sepcheck site view", box=box.SIMPLE_HEAD)
    for column in ("", "flow", "port", "direction", "measured from"):
        table.add_column(column, overflow="fold")
    for flow in view.flows:
        verdict = flow.verdict.value if flow.verdict else None
        label = f"[{_STYLE[verdict]}]{verdict.upper()}[/]" if verdict else "[dim]GAP[/]"
        measured = (
            "; ".join(
                f"{m.hostname} as {', '.join(m.roles)}: {m.verdict.value} "
                f"({', '.join(f'{n:,} {s}' for s, n in m.states.items())})"
                + ("" if m.complete else " [interrupted]")
                for m in flow.measured
            )
            or "not measured"
        )
        arrow = "-x>" if flow.entry.expect.value == "unreachable" else "->"
        table.add_row(
            label,
            flow.entry.id,
            f"{flow.entry.protocol}/{flow.entry.port}",
            f"{flow.entry.source} {arrow} {flow.entry.destination}",
            measured,
        )
    return table


def site_summary(view: SiteView) -> str:
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for flow in view.flows:
        if flow.verdict:
            counts[flow.verdict.value] += 1
    return (
        f"{'FAIL' if view.failing else 'PASS'}: {len(view.reports)} reports, "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
        + f", {len(view.gaps)} flows measured by nobody"
    )


def site_json(view: SiteView) -> str:
    return json.dumps(view.as_dict(), indent=2) + "\n"
