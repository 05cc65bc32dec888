"""Render catalogue entries as a rich table (blocks when narrow), JSON or Markdown."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from rich.console import RenderableType
from rich.text import Text

from sepcheck.catalogue import Entry
from sepcheck.model import Expect
from sepcheck.render.layout import Field, view


def _direction(entry: Entry) -> str:
    arrow = "->" if entry.expect is Expect.REACHABLE else "-x>"
    where = " (local)" if entry.scope.value == "local" else ""
    return f"{entry.source} {arrow} {entry.destination}{where}"


def expect_words(expect: Expect, severity: str) -> Text:
    """'reachable' or 'must not reach', with '(warn)' when a failure only warns."""
    words = "reachable" if expect is Expect.REACHABLE else "must not reach"
    style = "green" if expect is Expect.REACHABLE else "red"
    text = Text(words, style=style)
    if severity == "warn":
        text.append(" (warn)", style="yellow")
    return text


def _flags(entry: Entry) -> str:
    flags = []
    if entry.optional:
        flags.append("optional")
    if entry.feature:
        flags.append(f"feature {entry.feature}")
    if entry.group:
        flags.append(f"one of {entry.group}" + (f" ({entry.choice})" if entry.choice else ""))
    if entry.target_os:
        flags.append(f"to {entry.target_os} hosts")
    if entry.ipv4_only:
        flags.append("IPv4 only")
    if entry.via_proxy:
        flags.append(f"via proxy: {entry.via_proxy}")
    if entry.port_from:
        flags.append(f"port of {entry.port_from}")
    return ", ".join(flags)


_FIELDS = (
    Field("id", wrap=False, style="bold"),
    Field("proto/port", wrap=False),
    Field("direction"),
    Field("expect"),
    Field("versions"),
    Field("conf."),
    Field("purpose"),
    Field("flags"),
)


def catalogue_view(
    entries: Iterable[Entry], title: str = "SEP flows", width: int | None = None
) -> RenderableType:
    """A table when it fits in ``width`` columns, else one block per entry; never cropped."""
    rows = [
        (
            entry.id,
            f"{entry.protocol}/{entry.port}",
            _direction(entry),
            expect_words(entry.expect, entry.severity.value),
            entry.versions,
            "yes" if entry.configurable else "no",
            entry.purpose,
            _flags(entry),
        )
        for entry in entries
    ]
    return view(title, _FIELDS, rows, width)


def catalogue_json(entries: Iterable[Entry]) -> str:
    return json.dumps([entry.public_dict() for entry in entries], indent=2) + "\n"


def _md(text: str) -> str:
    # Catalogue text is data, not markup: escape HTML and the table's own separator.
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(entries: Iterable[Entry]) -> str:
    lines = [
        "| id | protocol | port | source | destination | expect | purpose | listener "
        "| versions | configurable | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        notes = "<br>".join(_md(n) for n in e.notes)
        flags = _flags(e)
        if flags:
            notes = _md(flags) + ("<br>" + notes if notes else "")
        if e.verify:
            notes += f"<br>When it warns: {_md(e.verify)}."
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
