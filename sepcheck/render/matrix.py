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
    if flow.expect == "unreachable":
        text.append("must not reach: ", style="dim")
    if flow.probes == 1 and flow.worst:
        only = flow.worst[0]
        text.append(f"{only.state.value} ({only.detail})")
        if only.note:
            text.append(f": {only.note}", style="dim")
        return text
    counts = ", ".join(f"{flow.states[s]:,} {s}" for s in _STATE_ORDER if flow.states.get(s))
    text.append(counts)
    if flow.verdict is not Verdict.PASS:
        # Group the named hosts by what happened to them: one line per state and reason.
        groups: dict[str, list[str]] = {}
        for host in flow.worst:
            label = f"{host.state.value} ({host.detail})" + (f", {host.note}" if host.note else "")
            groups.setdefault(label, []).append(host.host)
        style = _VERDICT_STYLE[flow.verdict].replace("bold ", "")
        for label, hosts in groups.items():
            text.append(f"\n{label}: {', '.join(hosts)}", style=style)
        if flow.worst_more:
            text.append(f" and {flow.worst_more:,} more", style=style)
    return text


def matrix_table(head: ReportHead, width: int | None = None) -> Table:
    """The matrix; below 110 columns the purpose column is left out to keep results whole."""
    roles = ", ".join(head.vantage.role)
    title = f"sepcheck: flows from {head.vantage.hostname} as {roles} ({head.parameters.stage})"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("", no_wrap=True, min_width=4)
    table.add_column("flow", style="bold", overflow="fold")
    table.add_column("port", no_wrap=True)
    table.add_column("result", ratio=3, min_width=24, overflow="fold")
    wide = width is None or width >= 110
    if wide:
        table.add_column("purpose", ratio=1, max_width=40)
    for flow in head.summary.flow_results:
        verdict = Text(flow.verdict.value.upper(), style=_VERDICT_STYLE[flow.verdict])
        cells: list[Text | str] = [
            verdict,
            flow.flow,
            f"{flow.protocol}/{flow.port}",
            _result_cell(flow),
        ]
        if wide:
            cells.append(flow.purpose)
        table.add_row(*cells)
    caption = _caption(head)
    if caption is not None:
        table.caption = caption
        table.caption_justify = "left"
    return table


def _caption(head: ReportHead) -> Text | None:
    """Groups of alternatives (judged together) and what the plan decided for the site."""
    lines = Text()
    for group in head.summary.groups:
        if lines:
            lines.append("\n")
        lines.append(f"{group.verdict.value.upper()}", style=_VERDICT_STYLE[group.verdict])
        lines.append(f" alternatives {group.group} ({', '.join(group.flows)}): {group.note}")
    for note in head.summary.plan_notes:
        if lines:
            lines.append("\n")
        lines.append(f"note: {note}", style="dim")
    return lines or None


def summary_line(head: ReportHead) -> str:
    flows = head.summary.flows
    parts = [f"{flows.get(v.value, 0)} {v.value}" for v in Verdict]
    flow_count = len(head.summary.flow_results)
    probes = head.summary.probes
    line = (
        f"{head.verdict.value.upper()}: {flow_count} flow{'' if flow_count == 1 else 's'} "
        f"({', '.join(parts)}), {probes:,} probe{'' if probes == 1 else 's'} in "
        f"{head.summary.duration_s:.1f} s"
    )
    gaps = head.summary.gaps
    if gaps:
        named = ", ".join(gaps[:3]) + (f" and {len(gaps) - 3} more" if len(gaps) > 3 else "")
        line += f"; not checked, no destination hosts: {named}"
    if not head.complete:
        line += f"; INTERRUPTED after {head.summary.probes:,} of {head.summary.planned:,} probes"
    return line
