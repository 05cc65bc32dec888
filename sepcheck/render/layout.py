"""Tables that never crop meaning: a table where it fits, one block per row where not.

Rich squeezes a table that is wider than the terminal by cutting cells short (the word
"not" vanished from "must not be reachable" at 160 columns) and, below the columns'
minimum widths, by hiding whole columns (the port at 80). A view here is measured first:
when the table's narrowest layout does not fit, every row is printed as a block of
wrapped lines instead, with every field named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.box import HEAVY_HEAD, Box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Field:
    """One column: its header, and whether it may wrap (words) or must stay whole."""

    header: str
    wrap: bool = True
    style: str = ""
    optional: bool = False
    """Left out first when the table does not fit (before falling back to blocks)."""


def _least(value: str | Text, wrap: bool) -> int:
    """The narrowest a cell can be without cutting a word (or at all, when it may not wrap)."""
    text = value.plain if isinstance(value, Text) else value
    if not wrap:
        return max((len(line) for line in text.splitlines()), default=0)
    return max((len(word) for word in text.split()), default=0)


def _text(value: str | Text) -> Text:
    return value if isinstance(value, Text) else Text(value)


def _widest(value: str | Text) -> int:
    text = value.plain if isinstance(value, Text) else value
    return max((len(line) for line in text.splitlines()), default=0)


def _allot(least: list[int], most: list[int], wrap: list[bool], room: int) -> list[int]:
    """Column widths within ``room``: each column as wide as its content, then the widest
    wrapping column narrowed one character at a time, never below its least width."""
    widths = list(most)
    excess = sum(widths) - room
    while excess > 0:
        shrinkable = [i for i, w in enumerate(widths) if wrap[i] and w > least[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def least_widths(fields: Sequence[Field], rows: Sequence[Sequence[str | Text]]) -> list[int]:
    """Each column's narrowest width that cuts no word, header included."""
    return [
        max([_least(field.header, field.wrap), *(_least(row[i], field.wrap) for row in rows)])
        for i, field in enumerate(fields)
    ]


def view(
    title: str,
    fields: Sequence[Field],
    rows: Sequence[Sequence[str | Text]],
    width: int | None,
    box: Box = HEAVY_HEAD,
) -> RenderableType:
    """The rows as a table when it fits in ``width`` columns (None: any), without its
    optional columns if need be, else as blocks."""
    least = least_widths(fields, rows)
    # An optional column with nothing in it is left out at any width.
    keep = [
        i
        for i, field in enumerate(fields)
        if not field.optional or any(_widest(row[i]) for row in rows)
    ]
    # Each column has one space of padding on either side and a rule on its right, plus
    # the table's left edge.
    while width is not None and sum(least[i] for i in keep) + 3 * len(keep) + 1 > width:
        optional = [i for i in keep if fields[i].optional]
        if not optional:
            return Group(Text(title, style="bold"), *(_block(fields, row, keep) for row in rows))
        keep.remove(optional[-1])
    # Widths are set here, not left to rich: its squeezing cuts a long host name to
    # "sepm01.example…" although the table fits, and with minimum widths it overflows.
    most = [max([_widest(fields[i].header), *(_widest(row[i]) for row in rows)]) for i in keep]
    room = (width if width is not None else sum(most) + 3 * len(keep) + 1) - 3 * len(keep) - 1
    widths = _allot([least[i] for i in keep], most, [fields[i].wrap for i in keep], room)
    table = Table(title=title, title_justify="left", box=box)
    for i, each in zip(keep, widths, strict=True):
        field = fields[i]
        table.add_column(field.header, no_wrap=not field.wrap, style=field.style, width=each)
    for row in rows:
        # Cells are data, never markup: "[[roles.client]]" must print as written.
        table.add_row(*(_text(row[i]) for i in keep))
    return table


def _block(fields: Sequence[Field], row: Sequence[str | Text], keep: Sequence[int]) -> Group:
    """One row as lines: the first field as a heading, the others as 'name: value', the
    values wrapping under themselves."""
    head = row[0]
    lines = Table.grid(padding=(0, 1))
    lines.add_column(style="dim", no_wrap=True)
    lines.add_column()
    for i in keep[1:]:
        if _widest(row[i]):
            lines.add_row(f"  {fields[i].header}:", _text(row[i]))
    heading = head if isinstance(head, Text) else Text(head, style="bold")
    return Group(Text(""), heading, lines)
