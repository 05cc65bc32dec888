"""The exit code of `sepcheck check`, from how the run ended, without running one."""

from __future__ import annotations

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.cli.check_exit import Outcome, exit_code
from sepcheck.cli.check_options import FailOn
from sepcheck.diff import Change, Diff, DiffItem
from sepcheck.report.model import ReportHead
from sepcheck.results import Verdict
from tests.test_report import make_head


@pytest.fixture(scope="module")
def failing(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> ReportHead:
    """A complete run with failing flows (some probes filtered)."""
    head, collector = make_head(catalogue, tmp_path_factory.mktemp("spool"))
    collector.close()
    assert head.verdict is Verdict.FAIL
    return head


def _passing(head: ReportHead, warned: int = 0) -> ReportHead:
    flows = {"pass": 3, "warn": warned, "fail": 0}
    summary = head.summary.model_copy(update={"flows": flows})
    return head.model_copy(update={"verdict": Verdict.PASS, "summary": summary})


def _nothing(head: ReportHead) -> ReportHead:
    summary = head.summary.model_copy(update={"planned": 0, "probes": 0})
    return head.model_copy(update={"summary": summary})


def _regressed() -> Diff:
    diff = Diff()
    diff.items[Change.REGRESSION].append(
        DiffItem(Change.REGRESSION, "f", "h", None, "tcp", 1, None, None)
    )
    return diff


ALL = tuple(FailOn)


@pytest.mark.parametrize("fail_on", ALL)
def test_a_lost_report_is_2_whatever_else(failing: ReportHead, fail_on: FailOn) -> None:
    outcome = Outcome(failing, interrupted=True, write_failed=True, signal="SIGTERM")
    assert exit_code(outcome, fail_on) == 2


@pytest.mark.parametrize("fail_on", ALL)
def test_interrupted_is_130(failing: ReportHead, fail_on: FailOn) -> None:
    passing = _passing(failing)
    assert exit_code(Outcome(passing, interrupted=True, write_failed=False), fail_on) == 130
    noted = Outcome(passing, interrupted=False, write_failed=False, signal="SIGHUP")
    assert exit_code(noted, fail_on) == 130


@pytest.mark.parametrize("fail_on", ALL)
def test_nothing_checked_is_never_a_pass(failing: ReportHead, fail_on: FailOn) -> None:
    nothing = _passing(_nothing(failing))
    outcome = Outcome(nothing, interrupted=False, write_failed=False, changes=Diff())
    assert exit_code(outcome, fail_on) == 1


@pytest.mark.parametrize(
    ("fail_on", "warned", "expected"),
    [
        (FailOn.FAILURE, 0, 0),
        (FailOn.FAILURE, 2, 0),
        (FailOn.WARNING, 0, 0),
        (FailOn.WARNING, 2, 1),
    ],
)
def test_warnings(failing: ReportHead, fail_on: FailOn, warned: int, expected: int) -> None:
    outcome = Outcome(_passing(failing, warned), interrupted=False, write_failed=False)
    assert exit_code(outcome, fail_on) == expected


@pytest.mark.parametrize(("fail_on", "expected"), [(FailOn.FAILURE, 1), (FailOn.WARNING, 1)])
def test_failures(failing: ReportHead, fail_on: FailOn, expected: int) -> None:
    assert exit_code(Outcome(failing, interrupted=False, write_failed=False), fail_on) == expected


def test_regression_counts_only_what_got_worse(failing: ReportHead) -> None:
    def code(changes: Diff | None) -> int:
        outcome = Outcome(failing, interrupted=False, write_failed=False, changes=changes)
        return exit_code(outcome, FailOn.REGRESSION)

    assert code(Diff()) == 0  # known failures, nothing worse
    assert code(None) == 0  # no earlier report yet (--baseline previous, the first run)
    assert code(_regressed()) == 1
