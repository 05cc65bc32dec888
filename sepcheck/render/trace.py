"""A trace as text (a hop table and the conclusion) or as JSON."""

from __future__ import annotations

import json

from rich import box
from rich.table import Table
from rich.text import Text

from sepcheck.trace import TraceReport

_OUTCOME_STYLE = {"reached": "green", "max-hops": "yellow"}


def trace_table(report: TraceReport) -> Table:
    flow = f" [{report.flow}]" if report.flow else ""
    title = f"{report.protocol}/{report.port} toward {report.host}"
    if report.host != report.address:
        title += f" ({report.address})"
    table = Table(title=title + flow, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("hop", justify="right")
    table.add_column("answered by")
    table.add_column("answer")
    table.add_column("ttl", justify="right")
    table.add_column("rtt ms", justify="right")
    for hop in report.hops:
        mark = ""
        if report.last_passed is not None and hop.ttl == report.last_passed.ttl:
            mark = "  <- last hop passed"
        if report.dies_at is not None and hop.ttl == report.dies_at.ttl:
            mark = "  <- flow dies here"
        table.add_row(
            str(hop.ttl),
            hop.reply_from or "*",
            Text(hop.detail + mark, style="dim" if hop.state is None else ""),
            "" if hop.reply_ttl is None else str(hop.reply_ttl),
            "" if hop.rtt_ms is None else f"{hop.rtt_ms:.3f}",
        )
    return table


def trace_summary(report: TraceReport) -> Text:
    return Text(report.summary, style=_OUTCOME_STYLE.get(report.outcome, "red"))


def traces_json(reports: list[TraceReport]) -> str:
    """``{"traces": [...]}``: one object per traced destination."""
    body = [r.model_dump(mode="json") for r in reports]
    return json.dumps({"traces": body}, indent=2) + "\n"
