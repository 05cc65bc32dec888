"""The typer application and what every command shares: consoles, the error wrapper that
turns bad input into one line and exit code 2, exit codes and common options.

Every command module is imported to build the command line, `sepcheck --help` included, so
this module (like each command's) imports only what the options need at that time: typer
and the enums of the options. rich, the site model and the engine are imported inside the
functions that use them (start-up time: bench/startup.py, tests/test_startup.py).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from sepcheck import __version__
from sepcheck.cli.help import CommandGroup
from sepcheck.entry import started
from sepcheck.errors import SepcheckError, UsageError
from sepcheck.model import Role

if TYPE_CHECKING:
    from rich.console import Console

    from sepcheck.plan import Vantage
    from sepcheck.topology import Topology
    from sepcheck.versions import SepVersion

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="sepcheck",
    help="Reachability probe and audit tool for Symantec Endpoint Protection deployments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # click's own help formatter, not typer's rich panels: those import most of rich
    # (markdown, tracebacks, pretty-printing; about 70 ms, half the start-up goal of
    # `--help`). The content is the same; see help.py for the command list.
    rich_markup_mode=None,
    cls=CommandGroup,
)

P = ParamSpec("P")
R = TypeVar("R")


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    from rich.console import Console

    # Piped tables keep their columns readable instead of wrapping at rich's 80-column
    # default; COLUMNS still wins when the user sets it.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich's own answer is SystemExit(1): a closed pipe would say findings, and
            # skip the summary. ``write_stdout`` decides instead.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return StdoutConsole(highlight=False, width=160 if wide else None)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SepcheckError into 'sepcheck: error: WHERE: WHAT' plus a hint, exit 2. Every
    command goes through here once its options are read: the start-up ends (see
    ``entry.started``: the garbage collector runs again from here on)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started()
        try:
            return func(*args, **kwargs)
        except SepcheckError as exc:
            from rich.markup import escape

            err = stderr_console()
            # The message quotes the user's input ("[fd00::1]:443"): text, never markup.
            err.print(
                f"[bold red]sepcheck: error:[/] {escape(str(exc))}", markup=True, highlight=False
            )
            if exc.hint:
                err.print(f"  hint: {exc.hint}", markup=False)
            if exc.detail:
                err.print(f"  {exc.detail}", markup=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sepcheck {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Reachability probe and audit tool for Symantec Endpoint Protection deployments."""


CatalogueOption = Annotated[
    Path | None,
    typer.Option(
        "--catalogue",
        help="Catalogue file or folder of *.toml files to use instead of the built-in one.",
        show_default=False,
        envvar="SEPCHECK_CATALOGUE",
    ),
]


def write_chunks(chunks: Iterable[str]) -> None:
    """Write ``chunks`` on stdout (see ``stdout_or_fail``: a full stdout is one line)."""

    def write() -> None:
        out = sys.stdout
        for chunk in chunks:
            out.write(chunk)

    stdout_or_fail(write)


STDOUT_WRITE_ERRORS = frozenset(
    {errno.EPIPE, errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
)
"""Errors only a write gives: a file read while writing stdout (a spool) never raises
these, so they are stdout's own."""


@dataclass(frozen=True)
class StdoutProblem:
    """Why what was written on stdout did not all arrive."""

    closed: bool
    """The reader closed the pipe early (`| head`): not an error of the command, as for
    any well-behaved Unix tool; the rest (report files, the summary on stderr, the exit
    code) stays the same."""
    reason: str


def write_stdout(write: Callable[[], None]) -> StdoutProblem | None:
    """Run ``write`` (which writes stdout) and flush; None when everything went out. On a
    closed pipe or a full device, stdout is pointed at the null device, so that what is
    still buffered cannot fail again (and give a traceback) when the process ends."""
    try:
        write()
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in STDOUT_WRITE_ERRORS:
            raise
        _drop_stdout()
        return StdoutProblem(closed=exc.errno == errno.EPIPE, reason=exc.strerror or str(exc))
    return None


def stdout_or_fail(write: Callable[[], None]) -> None:
    """``write_stdout`` for commands whose output is stdout: a full stdout is an error in
    one line (exit 2); a pipe closed by its reader is not."""
    problem = write_stdout(write)
    if problem is not None and not problem.closed:
        raise stdout_error(problem)


def stdout_error(problem: StdoutProblem) -> UsageError:
    return UsageError(
        f"cannot write to stdout: {problem.reason}",
        hint="free some space there, or send the output elsewhere",
    )


def _drop_stdout() -> None:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed at exit
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def parse_cli_version(text: str | None) -> SepVersion | None:
    if text is None:
        return None
    from sepcheck.versions import parse_version

    try:
        return parse_version(text)
    except SepcheckError as exc:
        raise UsageError(f"--sep-version: {exc.message}", hint=exc.hint) from None


def resolve_vantage(roles: list[Role] | None, topology: Topology) -> Vantage:
    from sepcheck.plan import Vantage, infer_vantage

    if roles:
        return Vantage(tuple(dict.fromkeys(roles)))
    from sepcheck.localhost import local_addresses, local_names

    inferred = infer_vantage(topology, local_addresses(), local_names())
    if inferred is None:
        raise UsageError(
            "cannot tell which role this host plays: none of its addresses or names is in "
            "the topology",
            hint="pass --as ROLE (e.g. --as client)",
        )
    return inferred


class TableOrJson(StrEnum):
    TABLE = "table"
    JSON = "json"


class ProbeMode(StrEnum):
    CONNECT = "connect"
    RAW = "raw"
    AUTO = "auto"


def require_raw(what: str) -> None:
    """Stop at once, in one line, when raw sockets are not allowed here."""
    from sepcheck.net.raw import raw_problem

    problem = raw_problem()
    if problem is not None:
        message, hint = problem
        raise UsageError(f"{what}: {message}", hint=hint)


def raw_allowed() -> bool:
    from sepcheck.net.raw import raw_problem

    return raw_problem() is None
