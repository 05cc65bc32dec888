"""The command line: the only package that reads argv, writes to the terminal and exits.

Every command turns SepcheckError (bad input) into a one-line message with a hint and exit
code 2. Exit codes: 0 success, 1 findings (failing flows, regressions), 2 usage or input
error, 130 interrupted. One module per command group; each registers on the shared app.
"""

import sys

import typer

# typer carries its own copy of click, a private module (pyproject caps typer below 0.30
# for it): its usage errors are caught here to say them in one line.
from typer._click import exceptions as click_exceptions

from sepcheck.cli import catalogue, check, listen, plan, reports, trace
from sepcheck.cli.app import EXIT_USAGE, app

__all__ = ["app", "catalogue", "check", "listen", "main", "plan", "reports", "trace"]

EXIT_INTERRUPTED = 130


def main() -> None:
    # Not click's standalone mode: its usage errors come as a box of five to seven lines;
    # sepcheck says what is wrong in one line, and where to look, like every other error.
    try:
        code = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        # `sepcheck` alone (no_args_is_help): the help is the answer.
        sys.stdout.write(exc.ctx.get_help() + "\n")
        sys.exit(EXIT_USAGE)
    except click_exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "sepcheck"
        _error(exc.format_message(), f"see '{command} --help'")
        sys.exit(EXIT_USAGE)
    except click_exceptions.ClickException as exc:
        _error(exc.format_message(), "see 'sepcheck --help'")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("sepcheck: stopped by Ctrl-C; nothing was written\n")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str, hint: str) -> None:
    # typer passes on pydantic's prefix for values its enums refuse.
    first = " ".join(message.replace("Value error, ", "").split())
    sys.stderr.write(f"sepcheck: error: {first}\n  hint: {hint}\n")
