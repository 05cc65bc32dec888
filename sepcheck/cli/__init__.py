"""The command line: the only package that reads argv, writes to the terminal and exits.

Every command turns SepcheckError (bad input) into a one-line message with a hint and exit
code 2. Exit codes: 0 success, 1 findings (failing flows, regressions), 2 usage or input
error, 130 interrupted. One module per command group; each registers on the shared app.
"""

from sepcheck.cli import catalogue, check, plan, reports, trace
from sepcheck.cli.app import app

__all__ = ["app", "catalogue", "check", "main", "plan", "reports", "trace"]


def main() -> None:
    app()
