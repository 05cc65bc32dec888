"""Under CI (the CI environment variable set), a test that skips fails: tests/conftest.py.

Each case runs a small pytest session of its own (pytester) with tests/conftest.py loaded
as a plugin, with and without CI set."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

def test_passes():
    pass

def test_skips_when_called():
    pytest.skip("no widget here")

@pytest.mark.skipif(True, reason="the widget is not installed")
def test_skipped_by_marker():
    pass

@pytest.fixture
def widget():
    pytest.skip("no widget in the fixture")

def test_skipped_by_a_fixture(widget):
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Without the plugins the cases do not use: hypothesis's costs a second per session.
    plugins = ("-p", "no:hypothesispytest", "-p", "no:asyncio", "-p", "tests.conftest")
    return pytester.runpytest(*plugins, "-rA", *args)


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_a_skip_fails_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    pytester.makepyfile(test_widget=SKIPPING)
    result = _run(pytester)
    # The skip in the test body fails it; skips in setup (a marker, a fixture) are errors.
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped under CI (call): no widget here",
            "*skipped under CI (setup): the widget is not installed",
            "*skipped under CI (setup): no widget in the fixture",
        ],
        consecutive=False,
    )


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_a_skip_is_a_skip_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    pytester.makepyfile(test_widget=SKIPPING)
    result = _run(pytester)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_a_module_skipped_at_import_fails_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        test_gadget="""
        import pytest
        pytest.importorskip("no_such_module_for_sepcheck")

        def test_never_collected():
            pass
        """,
        test_fine="def test_fine():\n    pass\n",
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*skipped under CI: a failure*", "test_gadget.py: *no_such_module_for_sepcheck*"]
    )
    # Without CI the same session passes.
    monkeypatch.delenv("CI")
    assert _run(pytester).ret == pytest.ExitCode.OK


def test_a_failure_stays_a_failure(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collection skip never turns a failed session into a passing one, nor hides it."""
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        test_gadget="import pytest\npytest.importorskip('no_such_module_for_sepcheck')\n",
        test_broken="def test_broken():\n    assert False\n",
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_tests_listed_as_impossible_in_ci_may_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(test_widget=SKIPPING)
    allowed = {
        "test_widget.py::test_skips_when_called": "why",
        "test_widget.py::test_skipped_by_marker": "why",
    }
    monkeypatch.setattr(tests.conftest, "CI_MAY_SKIP", allowed)
    result = _run(pytester)
    result.assert_outcomes(passed=1, skipped=2, errors=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_the_exceptions_are_real_tests() -> None:
    """Every test CI may skip exists (a renamed test must not leave a stale exception)."""
    for node_id in tests.conftest.CI_MAY_SKIP:
        path, _, name = node_id.partition("::")
        source = (Path(tests.conftest.__file__).parents[1] / path).read_text()
        assert f"def {name}(" in source, node_id
