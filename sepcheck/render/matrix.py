"""The pass/fail matrix: one row per flow, readable with one host or four thousand."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from sepcheck.report.model import FlowResult, ReportHead
from sepcheck.results import State, Verdict

_VERDICT_STYLE = {Verdict.PASS: "bold green", Verdict.WARN: "bold yellow", Verdict.FAIL: "bold red"}
_STATE_ORDER = [s.value for s in State]


def _result_cell(flow: FlowResult) -> Text:
    text = Text()
    if flow.probes == 1 and flow.worst:
        only = flow.worst[0]
        text.append(f"{only.state.value} ({only.detail})")
        return text
    counts = ", ".join(f"{flow.states[s]:,} {s}" for s in _STATE_ORDER if flow.states.get(s))
    text.append(counts)
    if flow.verdict is not Verdict.PASS:
        label = "failing" if flow.verdict is Verdict.FAIL else "warnings"
        shown = "; ".join(f"{h.host} {h.state.value} ({h.detail})" for h in flow.worst)
        text.append(f"\n{label}: {shown}", style=_VERDICT_STYLE[flow.verdict].replace("bold ", ""))
        if flow.worst_more:
            text.append(f" and {flow.worst_more:,} more")
    return text


def matrix_table(head: ReportHead) -> Table:
    roles = ", ".join(head.vantage.role)
    title = f"sepcheck: flows from {head.vantage.hostname} as {roles} ({head.parameters.stage})"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("", no_wrap=True)
    table.add_column("flow", style="bold", no_wrap=True)
    table.add_column("proto/port", no_wrap=True)
    table.add_column("to", no_wrap=True)
    table.add_column(
        "purpose", ratio=1, min_width=16, max_width=44, no_wrap=True, overflow="ellipsis"
    )
    table.add_column("result", ratio=2, min_width=30)
    for flow in head.summary.flow_results:
        verdict = Text(flow.verdict.value.upper(), style=_VERDICT_STYLE[flow.verdict])
        target = flow.destination + (" (must not reach)" if flow.expect == "unreachable" else "")
        table.add_row(
            verdict,
            flow.flow,
            f"{flow.protocol}/{flow.port}",
            target,
            flow.purpose,
            _result_cell(flow),
        )
    return table


def summary_line(head: ReportHead) -> str:
    flows = head.summary.flows
    parts = [f"{flows.get(v.value, 0)} {v.value}" for v in Verdict]
    line = (
        f"{head.verdict.value.upper()}: {len(head.summary.flow_results)} flows "
        f"({', '.join(parts)}), {head.summary.probes:,} probes in {head.summary.duration_s:.1f} s"
    )
    if head.summary.gaps:
        line += f"; {len(head.summary.gaps)} required flow(s) not checked (no hosts)"
    if not head.complete:
        line += f"; INTERRUPTED after {head.summary.probes:,} of {head.summary.planned:,} probes"
    return line
