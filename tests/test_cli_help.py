"""Every command's plain help: at most 78 columns (as the CHANGELOG says), placeholders
that say what to give (HOST, ROLE, FILE), never Python's types; the wording of the
report options; the typer bound that the private typer._click needs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main
from typer._click import Context
from typer.testing import CliRunner

from sepcheck.cli import app
from sepcheck.cli.help import name_placeholders

ROOT = Path(__file__).resolve().parents[1]
GROUP = typer.main.get_command(app)
COMMANDS = GROUP.list_commands(Context(GROUP))  # type: ignore[attr-defined]
TYPE_LEAKS = re.compile(r"<[a-z][^>]*>|\{[a-z]|list\[")


def _help(*args: str) -> str:
    # A real process on a wide terminal: CliRunner forces 80 columns of its own.
    done = subprocess.run(
        [sys.executable, "-m", "sepcheck", *args, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_fits_78_columns_without_type_names(command: str | None) -> None:
    text = _help(*([command] if command else []))
    wide = [line for line in text.splitlines() if len(line) > 78]
    assert wide == []
    leaks = [line for line in text.splitlines() if TYPE_LEAKS.search(line)]
    assert leaks == []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_value_has_a_placeholder(command: str) -> None:
    built = name_placeholders(GROUP.get_command(Context(GROUP), command))  # type: ignore[attr-defined]
    missing = [
        p.name
        for p in built.params
        if p.metavar is None and not getattr(p, "is_flag", False) and p.name != "help"
    ]
    assert missing == []


def test_role_and_host_placeholders() -> None:
    text = _help("check")
    assert "--as ROLE" in text
    assert "--manager HOST" in text
    assert "-o, --output FILE" in text
    assert "{BEFORE} {AFTER}" in _help("diff")
    assert "[REPORT]..." in _help("merge")


def test_report_options_speak_of_the_tag_and_the_backend_is_named() -> None:
    text = " ".join(_help("check").split())
    assert "this host's reports" not in text
    assert "this host's newest" not in text
    assert "<host>" not in text
    assert "SEPCHECK_BACKEND" in text


def test_typer_is_capped_for_its_private_click() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    typer_dep = [d for d in project["project"]["dependencies"] if d.startswith("typer")]
    assert typer_dep == ["typer>=0.29,<0.30"]


def test_trace_timeout_is_capped_as_check_s() -> None:
    result = CliRunner().invoke(app, ["trace", "127.0.0.1", "-p", "1", "--timeout", "1e9"])
    assert result.exit_code == 2
    assert "3600" in result.output
