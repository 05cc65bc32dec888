"""Render a diff of two reports as a rich table or JSON."""

from __future__ import annotations

import json

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from sepcheck.diff import Change, Diff, Side

_STYLE = {
    Change.REGRESSION: "bold red",
    Change.FIX: "bold green",
    Change.CHANGED: "yellow",
    Change.ADDED: "cyan",
    Change.REMOVED: "magenta",
    Change.UNMEASURED: "dim",
}
_LABEL = {
    Change.REGRESSION: "REGRESSION",
    Change.FIX: "FIXED",
    Change.CHANGED: "CHANGED",
    Change.ADDED: "ADDED",
    Change.REMOVED: "REMOVED",
    Change.UNMEASURED: "NOT MEASURED",
}


def _side(item: Side | None) -> str:
    if item is None:
        return "-"
    return f"{item.verdict.value.upper()} {item.state.value} ({item.detail})"


def diff_table(diff: Diff) -> RenderableType:
    """The changes as a table; one line when there are none (a table of no rows says
    nothing its header would not)."""
    if not any(diff.items.values()):
        return Text("sepcheck diff: no changes")
    table = Table(title="sepcheck diff", box=box.SIMPLE_HEAD)
    for column in ("", "flow", "host", "port", "before", "after"):
        table.add_column(column, overflow="fold")
    for kind in Change:
        for item in diff.items[kind]:
            table.add_row(
                f"[{_STYLE[kind]}]{_LABEL[kind]}[/]",
                item.flow,
                item.host if item.address in (None, item.host) else f"{item.host} ({item.address})",
                f"{item.protocol}/{item.port}",
                _side(item.before),
                _side(item.after),
            )
    return table


def diff_summary(diff: Diff) -> str:
    counts = ", ".join(f"{len(diff.items[k]):,} {k.value}" for k in Change)
    line = f"{'REGRESSED' if diff.regressions else 'NO REGRESSION'}: {counts}"
    if not diff.before_complete or not diff.after_complete:
        line += " (an incomplete report: what it lacks is listed as not measured)"
    return line


def diff_json(diff: Diff) -> str:
    return json.dumps(diff.as_dict(), indent=2) + "\n"
