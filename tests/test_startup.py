"""A fast start: commands import only what they need. Measured by bench/startup.py; here
the behaviour behind the figures: which modules a command loads (never how long it takes),
that the help keeps its content without rich, and that the process still ends as it
should (see sepcheck/entry.py)."""

from __future__ import annotations

import atexit
import enum
import io
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from typer._click import Parameter
from typer.testing import CliRunner

from sepcheck import __version__, entry
from sepcheck.cli import app
from sepcheck.cli.help import first_paragraph, metavar

ROOT = Path(__file__).resolve().parents[1]

SITE_MODEL_AND_RUN = (
    "pydantic",
    "asyncio",
    "psutil",
    "sepcheck.catalogue",
    "sepcheck.topology",
    "sepcheck.plan",
    "sepcheck.report.model",
    "sepcheck.engine",
    "sepcheck.run",
    "sepcheck.net.linux",
)
"""What building the command line must not load: the check (or the other commands) loads
these when it runs."""
RICH_HELP = ("rich", "typer.rich_utils")
"""typer's rich help panels: most of rich, markdown and tracebacks included."""
ONLY_SOME_RUNS = (
    "sepcheck.render.html",
    "sepcheck.render.junit",
    "sepcheck.render.prometheus",
    "sepcheck.render.markdown",
    "sepcheck.net.raw",
    "scapy",
    "sepcheck.diff",
    "sepcheck.merge",
    "sepcheck.archive",
    "sepcheck.report.load",
    "sepcheck.payloads",
    "sepcheck.trace",
    "multiprocessing",
    "rich.progress",
)
"""What the most common check (7 TCP probes, the table on stdout, no files, no progress
bar, no baseline) does not need: other formats, raw mode, reports read back, the reports
folder, UDP payloads, worker processes."""
CHECK = ("check", "--as", "client", "--manager", "127.0.0.1", "--no-progress")


@dataclass(frozen=True)
class Started:
    """One `sepcheck` process: its exit code, output, and state when it ended."""

    code: int
    out: str
    err: str
    modules: frozenset[str]
    collecting: bool
    """Whether the garbage collector ran when the process ended."""


def loaded_by(*argv: str) -> Started:
    """Run ``sepcheck ARGV`` from its entry point, in a process of its own (the fast exit
    included); the modules are written down by an exit handler, which it runs too."""
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "modules"
        code = (
            "import atexit, gc, sys\n"
            f"sys.argv = ['sepcheck', *{list(argv)!r}]\n"
            "def record():\n"
            f"    with open({str(record)!r}, 'w') as out:\n"
            "        out.write(' '.join([str(gc.isenabled()), *sorted(sys.modules)]))\n"
            "atexit.register(record)\n"
            "from sepcheck.entry import main\n"
            "main()\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        collecting, *modules = record.read_text().split()
    return Started(
        done.returncode, done.stdout, done.stderr, frozenset(modules), collecting == "True"
    )


def loaded(started: Started, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (modules or packages) the process loaded."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in started.modules)]


def test_version_needs_no_command_line_library() -> None:
    started = loaded_by("--version")
    assert (started.code, started.out) == (0, f"sepcheck {__version__}\n")
    assert loaded(started, ("typer", "rich", "pydantic")) == []


COMMANDS = ["catalogue", "check", "plan", "init", "diff", "merge", "schema", "trace"]


@pytest.mark.parametrize(
    "argv", [["--help"], *([name, "--help"] for name in COMMANDS)], ids=" ".join
)
def test_help_loads_no_site_model_no_engine_and_no_rich(argv: list[str]) -> None:
    started = loaded_by(*argv)
    assert loaded(started, SITE_MODEL_AND_RUN + RICH_HELP) == []
    assert started.code == 0, started.err
    assert started.out.startswith("Usage: ")
    # Still collecting garbage? Never started: the collector stays off while starting.
    assert not started.collecting


def test_a_mistyped_command_is_one_line_without_loading_the_rest() -> None:
    started = loaded_by("chek")
    assert started.code == 2
    assert started.err.splitlines() == [
        "sepcheck: error: No such command 'chek'. Did you mean 'check', 'schema'?",
        "  hint: see 'sepcheck --help'",
    ]
    assert loaded(started, SITE_MODEL_AND_RUN + RICH_HELP) == []


def test_the_common_check_loads_only_what_it_shows() -> None:
    started = loaded_by(*CHECK)
    assert started.code == 1, started.err  # nothing listens on 127.0.0.1: FAIL
    assert "client-manager-http" in started.out
    assert started.err.splitlines()[-1].startswith("FAIL: 7 flows")
    assert loaded(started, ("sepcheck.engine", "sepcheck.render.matrix")) == [
        "sepcheck.engine",
        "sepcheck.render.matrix",
    ]
    assert loaded(started, (*ONLY_SOME_RUNS, "sepcheck.report.writer", "typer.rich_utils")) == []
    # The run itself collects garbage again: the collector is off only while starting.
    assert started.collecting


def test_a_json_check_loads_the_writer_and_no_other_format() -> None:
    started = loaded_by(*CHECK, "--format", "json")
    assert started.code == 1, started.err
    assert started.out.startswith("{")
    assert started.out.endswith("}\n")
    assert loaded(started, ("sepcheck.report.writer",)) == ["sepcheck.report.writer"]
    assert loaded(started, ONLY_SOME_RUNS) == []


def test_the_trace_rate_default_is_the_engines() -> None:
    """trace's --rate default is written out so that the command line does not load the
    engine; it must stay the engine's."""
    from sepcheck.cli.trace import DEFAULT_RATE
    from sepcheck.trace import TraceSettings

    assert TraceSettings.rate == DEFAULT_RATE


def _squashed(text: str) -> str:
    """Text without any whitespace: the help wraps lines wherever the width says."""
    return "".join(text.split())


def test_the_command_list_gives_each_summary_whole() -> None:
    """click's formatter would cut each summary to one line ending in '...'."""
    help_text = _squashed(CliRunner().invoke(app, ["--help"]).output)
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        assert _squashed(f"{name} {first_paragraph(command.help or '')}") in help_text


def _default_shown(param: Parameter) -> str | None:
    """The default an option's help shows ('default: 1.5'), if it shows one."""
    default = param.default
    if param.param_type_name != "option" or getattr(param, "show_default", None) is False:
        return None
    if default is None or default is False:
        return None
    if default is True:  # --progress/--no-progress
        return f"default: {param.opts[0].lstrip('-')}"
    return f"default: {default.value if isinstance(default, enum.Enum) else default}"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_names_every_option_its_help_env_var_and_default(name: str) -> None:
    """The help's content, as typer's rich panels showed it: each option with its help,
    its environment variable and its default (the look is click's plain one)."""
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    help_text = _squashed(CliRunner().invoke(app, [name, "--help"]).output)
    for param in command.params:
        expected = [*param.opts, *param.secondary_opts]
        if param.param_type_name == "argument":  # named by its placeholder (FILE, HOST)
            expected = [metavar(param) or param.opts[0]]
        expected += [param.help] if getattr(param, "help", None) else []
        expected += [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
        default = _default_shown(param)
        expected += [default] if default else []
        for text in expected:
            assert _squashed(text) in help_text, (param.name, text)


def test_the_fast_exit_leaves_what_it_cannot_vouch_for_to_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """entry._exit skips the interpreter's teardown only when nothing can be lost: a code
    that is not a number, another thread still running, or output that cannot be flushed
    (a closed pipe) take Python's own way out, which says what it says today."""

    def taken(code: int) -> None:
        raise AssertionError(f"the fast exit was taken, with {code}")

    # Taken here, it would end pytest itself.
    monkeypatch.setattr(os, "_exit", taken)
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: None)
    with pytest.raises(SystemExit) as raised:
        entry._exit(SystemExit("not a number"))
    assert raised.value.code == "not a number"

    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(SystemExit) as raised:
            entry._exit(SystemExit(0))
    finally:
        release.set()
        worker.join()
    assert raised.value.code == 0

    class ClosedPipe(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    with pytest.raises(SystemExit) as raised:
        entry._exit(SystemExit(1))
    assert raised.value.code == 1
