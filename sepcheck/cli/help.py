"""sepcheck's group of commands, as far as help goes: how `sepcheck --help` lists the
commands, and a help option that costs nothing when it is not given.

The command line uses click's help formatter, not typer's rich panels (see app.py: they
cost about 70 ms of imports, half of the start-up goal). Click's formatter would cut each
command's help in the list to one line ending in '...'; the rich panels showed the whole
first paragraph, and so does this.
"""

from __future__ import annotations

import inspect
from enum import Enum

from typer._click import Command, Context, HelpFormatter, Parameter
from typer.core import TyperGroup, TyperOption

METAVARS = {
    "topology_path": "FILE",
    "as_roles": "ROLE",
    "roles": "ROLE",
    "role": "ROLE",
    "manager": "HOST",
    "gup": "HOST",
    "database": "HOST",
    "client": "HOSTS",
    "syslog": "HOST",
    "extra_hosts": "ROLE=HOST",
    "host": "HOST",
    "sep_version": "VERSION",
    "features": "FEATURE",
    "management_server_list": "PROTOCOL",
    "outputs": "FILE",
    "output_dir": "DIR",
    "keep": "N",
    "report_tag": "TAG",
    "lock_wait": "SECONDS",
    "timeout": "SECONDS",
    "cert_warn_days": "DAYS",
    "responder_token": "TOKEN",
    "retries": "N",
    "max_retries": "N",
    "tries": "N",
    "max_hops": "N",
    "concurrency": "N",
    "per_host": "N",
    "rate": "PPS",
    "workers": "N",
    "port": "PORT",
    "baseline": "REPORT",
    "before": "BEFORE",
    "after": "AFTER",
    "reports": "REPORT",
    "target": "TARGET",
    "catalogue_path": "PATH",
    "path": "FILE",
    "ports": "LIST",
    "duration": "DURATION",
    "token": "TOKEN",
    "output": "FILE",
}
"""The placeholder of every option and argument that takes a value, by parameter name
(an option with a fixed set of values lists them instead, when they are few). Without
one, the help showed Python's types (`<list[str]>`, `<int range>`, `{before}`), and the
list of roles made lines of 177 columns. tests/test_cli_help.py checks that every
parameter of every command has one."""

CHOICES_WIDTH = 48
"""Longest list of values shown as the placeholder (`[table|json]`)."""


def metavar(param: Parameter) -> str | None:
    """The placeholder of ``param`` in the help: from ``METAVARS``, or its choices."""
    if param.name in METAVARS:
        return METAVARS[param.name]
    described = getattr(param, "type_descriptor", None)  # typer's parameters have one
    if described is not None and described.is_choice and described.choices is not None:
        values = [c.value if isinstance(c, Enum) else str(c) for c in described.choices]
        listed = f"[{'|'.join(values)}]"
        if len(listed) <= CHOICES_WIDTH:
            return listed
    return None


def name_placeholders(command: Command) -> Command:
    """Give each parameter of ``command`` that takes a value its placeholder."""
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = metavar(param)
        if param.param_type_name == "argument" and param.metavar is not None:
            # typer writes an argument's Python type after its name (`HOST <str>`).
            setattr(param, "display_type_rich", _no_type)  # noqa: B010
    return command


def _no_type(ctx: Context) -> None:
    return None


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

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        return None if command is None else name_placeholders(command)

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
