"""The pass/fail matrix: one row per flow, readable with one host or four thousand."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.text import Text

from sepcheck.model import Expect
from sepcheck.render.flowtext import app_counts, host_label, host_state
from sepcheck.render.layout import Field, view
from sepcheck.render.words import duration, plural
from sepcheck.report.model import FlowResult, ReportHead
from sepcheck.results import State, Verdict

_VERDICT_STYLE = {Verdict.PASS: "bold green", Verdict.WARN: "bold yellow", Verdict.FAIL: "bold red"}
_STATE_ORDER = [s.value for s in State]


def _result_cell(flow: FlowResult) -> Text:
    text = Text()
    if flow.expect == Expect.UNREACHABLE:
        text.append("must not reach: ", style="dim")
    if flow.probes == 1 and flow.worst:
        state, note = host_state(flow.worst[0])
        text.append(state)
        if note:
            text.append(f": {note}", style="dim")
        return text
    counts = ", ".join(f"{flow.states[s]:,} {s}" for s in _STATE_ORDER if flow.states.get(s))
    text.append(counts)
    if flow.app:
        text.append(f" ({app_counts(flow)})", style="dim")
    if flow.verdict is not Verdict.PASS:
        # Group the named hosts by what happened to them: one line per state and reason.
        groups: dict[str, list[str]] = {}
        for host in flow.worst:
            label = host_label(host)
            groups.setdefault(label, []).append(host.host)
        style = _VERDICT_STYLE[flow.verdict].replace("bold ", "")
        for label, hosts in groups.items():
            text.append(f"\n{label}: {', '.join(hosts)}", style=style)
        if flow.worst_more:
            text.append(f" and {flow.worst_more:,} more", style=style)
    return text


def matrix_table(head: ReportHead, width: int | None = None) -> RenderableType:
    """The matrix, never cropped: the purpose column only at 110 columns and more (and when
    it fits), one block per flow when even the rest does not fit; then one line per group
    of alternatives and the plan's notes."""
    roles = ", ".join(head.vantage.role)
    title = f"sepcheck: flows from {head.vantage.hostname} as {roles} ({head.parameters.stage})"
    if not head.complete:
        title += f" - INTERRUPTED after {head.summary.probes:,} of {head.summary.planned:,} probes"
    wide = width is None or width >= 110
    fields = [
        Field("", wrap=False),
        Field("flow", wrap=False, style="bold"),
        Field("port", wrap=False),
        Field("result"),
    ]
    if wide:
        fields.append(Field("purpose", optional=True))
    rows: list[list[str | Text]] = []
    for flow in head.summary.flow_results:
        verdict = Text(flow.verdict.value.upper(), style=_VERDICT_STYLE[flow.verdict])
        cells: list[str | Text] = [
            verdict,
            flow.flow,
            f"{flow.protocol}/{flow.port}",
            _result_cell(flow),
        ]
        if wide:
            cells.append(flow.purpose)
        rows.append(cells)
    table = view(title, fields, rows, width, box=box.SIMPLE_HEAD)
    caption = _caption(head)
    return table if caption is None else Group(table, Text(""), caption)


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


def headline(head: ReportHead) -> str:
    """The run's outcome in one word or two, for every human-facing format. A run that did
    not finish never says PASS (the JSON keeps its verdict, with ``complete: false``), and
    neither does a run that probed nothing."""
    if head.summary.planned == 0:
        return "NOTHING CHECKED"
    if head.verdict is Verdict.FAIL:
        return "FAIL" if head.complete else "FAIL (INTERRUPTED)"
    return "PASS" if head.complete else "INTERRUPTED"


def summary_line(head: ReportHead, fail_on_warning: bool = False) -> str:
    """The run in one line; with ``fail_on_warning`` a warning makes it a FAIL, as the exit
    code says."""
    flows = head.summary.flows
    parts = [f"{flows.get(v.value, 0)} {v.value}" for v in Verdict]
    flow_count = len(head.summary.flow_results)
    probes = head.summary.probes
    word = headline(head)
    if fail_on_warning and word == "PASS" and flows.get(Verdict.WARN.value):
        word = "FAIL (--fail-on warning)"
    line = (
        f"{word}: {plural(flow_count, 'flow')} "
        f"({', '.join(parts)}), {plural(probes, 'probe')} in "
        f"{duration(head.summary.duration_s)}"
    )
    gaps = head.summary.gaps
    if gaps:
        named = ", ".join(gaps[:3]) + (f" and {len(gaps) - 3} more" if len(gaps) > 3 else "")
        line += f"; not checked, no destination hosts: {named}"
    if not head.complete:
        line += f"; INTERRUPTED after {head.summary.probes:,} of {head.summary.planned:,} probes"
    if head.summary.planned == 0:
        roles = ", ".join(head.vantage.role)
        line += f"; this host as {roles} has nothing to probe on this site (see sepcheck plan)"
    return line
