"""Render catalogue entries as a rich table, JSON or Markdown."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich import box
from rich.table import Table

from sepcheck.catalogue import Entry
from sepcheck.model import Expect


def _direction(entry: Entry) -> str:
    arrow = "->" if entry.expect is Expect.REACHABLE else "-x>"
    where = " (local)" if entry.scope.value == "local" else ""
    return f"{entry.source} {arrow} {entry.destination}{where}"


def _flags(entry: Entry) -> str:
    flags = []
    if entry.optional:
        flags.append("optional")
    if entry.feature:
        flags.append(f"feature:{entry.feature}")
    if entry.severity.value == "warn":
        flags.append("warn")
    return ", ".join(flags)


def catalogue_table(entries: Iterable[Entry], title: str = "SEP flows") -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, show_lines=False)
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("proto/port", no_wrap=True)
    table.add_column("direction", no_wrap=True)
    table.add_column("expect", no_wrap=True)
    table.add_column("versions", no_wrap=True)
    table.add_column("conf.", justify="center", no_wrap=True)
    table.add_column("purpose", ratio=1, min_width=24)
    table.add_column("flags")
    for entry in entries:
        expect = (
            "[green]reachable[/]" if entry.expect is Expect.REACHABLE else "[red]unreachable[/]"
        )
        table.add_row(
            entry.id,
            f"{entry.protocol}/{entry.port}",
            _direction(entry),
            expect,
            entry.versions,
            "yes" if entry.configurable else "no",
            entry.purpose,
            _flags(entry),
        )
    return table


def catalogue_json(entries: Iterable[Entry]) -> str:
    return json.dumps([entry.public_dict() for entry in entries], indent=2) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(entries: Iterable[Entry]) -> str:
    lines = [
        "| id | protocol | port | source | destination | expect | purpose | listener "
        "| versions | configurable | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        notes = "<br>".join(_md(n) for n in e.notes)
        if e.feature:
            notes = f"feature `{e.feature}`" + ("<br>" + notes if notes else "")
        cells = [
            f"`{e.id}`",
            e.protocol.value,
            str(e.port),
            e.source.value,
            e.destination.value + (" (local)" if e.scope.value == "local" else ""),
            e.expect.value + (" (warn)" if e.severity.value == "warn" else ""),
            _md(e.purpose),
            _md(e.listener),
            _md(e.versions),
            "yes" if e.configurable else "no",
            notes,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
