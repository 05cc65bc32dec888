"""The Markdown report, for pasting into a change ticket.

It never says PASS for a run that was interrupted or probed nothing (``headline``): a ticket
reader sees only what this text says.
"""

from __future__ import annotations

import html
import re

from sepcheck.render.flowtext import flow_result_text
from sepcheck.render.matrix import headline
from sepcheck.render.words import duration
from sepcheck.report.model import ReportHead

# Backslash first: it is the escape character itself.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|"})


def _md(text: str) -> str:
    """Text from a catalogue, a topology or a result, as literal Markdown: raw HTML shown,
    not run (GitHub and GitLab render tags they allow), and no character that ends a table
    cell or starts a link, code span or emphasis."""
    return html.escape(text, quote=False).translate(_MD_SPECIAL).replace("\n", " ")


def _code(text: str) -> str:
    """A code span around any text: inside one, HTML is not interpreted, but a backtick
    would end it (so the fence is longer than any run of them) and a pipe still ends a
    table cell (so it is escaped, which GitHub's tables read even in code)."""
    text = text.replace("\n", " ").replace("|", "\\|")
    runs = [len(m) for m in re.findall("`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_report(head: ReportHead) -> str:
    """The matrix as Markdown, for pasting into a change ticket."""
    s = head.summary
    interrupted = f" (**interrupted** after {s.probes:,} of {s.planned:,} probes)"
    lines = [
        f"## sepcheck: {headline(head)}",
        "",
        f"From {_code(head.vantage.hostname)} as {_md(', '.join(head.vantage.role))}, stage "
        f"{_md(head.parameters.stage)}, {s.probes:,} probes in {duration(s.duration_s)}, "
        f"started {head.started_at}" + ("" if head.complete else interrupted) + ".",
        "",
        "| verdict | flow | port | result | purpose |",
        "|---|---|---|---|---|",
    ]
    for f in s.flow_results:
        result = flow_result_text(f, detailed=False)
        lines.append(
            f"| **{f.verdict.value.upper()}** | {_code(f.flow)} | {f.protocol}/{f.port} | "
            f"{_md(result)} | {_md(f.purpose)} |"
        )
    if s.gaps:
        lines += ["", "Not checked (no destination hosts): " + ", ".join(_code(g) for g in s.gaps)]
    if s.plan_notes:
        lines += ["", *(f"- {_md(note)}" for note in s.plan_notes)]
    return "\n".join(lines) + "\n"
