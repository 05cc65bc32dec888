"""sepcheck's group of commands, as far as help goes: how `sepcheck --help` lists the
commands, and a help option that costs nothing when it is not given.

The command line uses click's help formatter, not typer's rich panels (see app.py: they
cost about 70 ms of imports, half of the start-up goal). Click's formatter would cut each
command's help in the list to one line ending in '...'; the rich panels showed the whole
first paragraph, and so does this.
"""

from __future__ import annotations

import inspect

from typer._click import Context, HelpFormatter
from typer.core import TyperGroup, TyperOption


def first_paragraph(text: str) -> str:
    """The first paragraph of a help text, on one line (the formatter wraps it)."""
    return " ".join(inspect.cleandoc(text).split("\n\n", 1)[0].split())


class CommandGroup(TyperGroup):
    """sepcheck's group of commands: the list of commands says all of each one's summary."""

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        """The group's --help, False when not given (typer leaves it None). typer checks
        every value that is not a bool through pydantic, so a None here loaded pydantic
        (some 60 ms) for `sepcheck COMMAND --help` and for a mistyped command."""
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, first_paragraph(command.short_help or command.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
