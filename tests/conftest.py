"""Shared fixtures: the shipped catalogue and a helper to write topology files; a TMPDIR of
each test's own, where no spool may be left behind; and, under CI, no test may skip."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from sepcheck.catalogue import Catalogue, load_catalogue

SPOOLS = ".sepcheck-*.jsonl"
"""Collectors' spool files (tempfile.mkstemp in TMPDIR; see sepcheck/report/collect.py)."""


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(autouse=True)
def spool_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """This test's own TMPDIR, for this process (``tempfile``) and every process it
    starts (the environment): where a run of sepcheck keeps its spools. It is a folder of
    its own, beside ``tmp_path`` rather than in it, so tests that list ``tmp_path`` see only
    their own files.

    No spool may be left behind: a test that ends with one there fails. A test whose run
    cannot clean up (one killed with SIGKILL) removes what it left itself."""
    folder = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    left = sorted(p.name for p in folder.glob(SPOOLS))
    assert not left, f"spool left behind in TMPDIR ({folder}): {', '.join(left)}"


@pytest.fixture
def loopback_manager() -> Iterator[int]:
    """A listener on 127.0.0.1:8014 (the client-manager HTTP flow) if the port is free."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", 8014))
    except OSError:
        server.close()
        pytest.skip("127.0.0.1:8014 is in use")
    server.listen(16)
    yield 8014
    server.close()


# -- under CI, a skip is a failure -----------------------------------------------------
#
# CI runs as root with every tool the suite uses installed (scripts/test installs them): a
# test that skips there did not run, and a green run would hide it. With CI set (GitHub,
# GitLab and most others set CI=true), a skipped test fails, saying why it skipped; a module
# that skips as a whole (pytest.importorskip at import) fails the session. Expected
# failures (xfail) are not skips and are left alone.

CI_MAY_SKIP: dict[str, str] = {
    "tests/test_catalogue.py::test_every_port_of_the_source_document_is_catalogued": (
        "reads shared/source beside the checkout, which is not part of the repository: "
        "a clean clone in CI does not have it"
    ),
}
"""Tests that cannot run in CI by design (node id -> why); they may still skip there."""

_COLLECT_SKIPS = pytest.StashKey[list[str]]()


def in_ci() -> bool:
    value = os.environ.get("CI", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and in_ci()
        and item.nodeid not in CI_MAY_SKIP
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped under CI ({report.when}): {_skip_reason(report)}\n"
            "CI must run every test: install what it needs, or list it in "
            "tests/conftest.py CI_MAY_SKIP with the reason it cannot run in CI"
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and in_ci() and report.nodeid not in CI_MAY_SKIP:
        skips = collector.config.stash.setdefault(_COLLECT_SKIPS, [])
        skips.append(f"{report.nodeid}: {_skip_reason(report)}")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.stash.get(_COLLECT_SKIPS, None) and exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skips = terminalreporter.config.stash.get(_COLLECT_SKIPS, None)
    if skips:
        terminalreporter.section("skipped under CI: a failure", red=True)
        for line in skips:
            terminalreporter.line(line)
