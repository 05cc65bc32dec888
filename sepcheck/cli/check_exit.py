"""The exit code of `sepcheck check`, from how the run ended (a pure function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

from sepcheck.cli.app import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from sepcheck.cli.check_options import FailOn
from sepcheck.entry import EXIT_INTERRUPTED
from sepcheck.results import Verdict

if TYPE_CHECKING:
    from sepcheck.diff import Diff
    from sepcheck.report.model import ReportHead


@dataclass(frozen=True)
class Outcome:
    """How a finished run ended, as far as its exit code goes."""

    head: ReportHead
    interrupted: bool
    """The run stopped before probing everything (Ctrl-C, a signal, a worker lost)."""
    write_failed: bool
    """A report file could not be written (its error was said)."""
    signal: str | None = None
    """A stop signal that came while the reports were written (they were finished)."""
    changes: Diff | None = None
    """The comparison with the baseline, when there was one."""


def exit_code(outcome: Outcome, fail_on: FailOn) -> int:
    """2 when a report was lost, 130 when interrupted, 1 when nothing was checked (never a
    pass, whatever --fail-on says), else what --fail-on counts as a finding: a failing
    flow; also a warning; or only a regression (none without a baseline yet)."""
    head = outcome.head
    if outcome.write_failed:
        return EXIT_USAGE
    if outcome.interrupted or outcome.signal is not None:
        return EXIT_INTERRUPTED
    if head.summary.planned == 0:
        return EXIT_FINDINGS
    match fail_on:
        case FailOn.REGRESSION:
            found = bool(outcome.changes and outcome.changes.regressions)
        case FailOn.WARNING:
            warned = head.summary.flows.get(Verdict.WARN.value, 0)
            found = bool(warned) or head.verdict is Verdict.FAIL
        case FailOn.FAILURE:
            found = head.verdict is Verdict.FAIL
        case _:
            assert_never(fail_on)
    return EXIT_FINDINGS if found else EXIT_OK
