"""Stop signals at any moment: an early one gives one line and the usual exit code; SIGHUP
is handled like SIGTERM; a rate-limited run stopped early keeps what it measured.

Probes go to 127.0.x.x only (loopback): closed ports there answer at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND = (sys.executable, "-m", "sepcheck", "check", "--no-progress")


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_starting_is_one_line(signum: int) -> None:
    process = start("--as", "client", "--manager", "127.0.0.1")
    time.sleep(0.05)  # the interpreter is still importing the command line
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    assert err.strip().splitlines() == [f"sepcheck: stopped by {name}; nothing was written"]
    assert "Traceback" not in err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_keeps_what_a_rate_limited_run_measured(tmp_path: Path, workers: str) -> None:
    report = tmp_path / "report.json"
    process = start(
        "--as",
        "manager",
        "--client",
        "127.0.1.0/24",
        "--feature",
        "windows_push",
        "--rate",
        "100",
        "--workers",
        workers,
        "--output",
        str(report),
        "--quiet",
        env={"TMPDIR": str(tmp_path)},
    )
    time.sleep(3.0)
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    data = json.loads(report.read_text())
    assert data["complete"] is False
    # About 100 probes a second for some 2.5 s once started: far from the 1,016 planned,
    # and every one that finished is in the report.
    assert 50 <= len(data["results"]) < data["summary"]["planned"]
    assert data["summary"]["probes"] == len(data["results"])
    assert err.strip().splitlines()[-1].startswith(
        "FAIL (INTERRUPTED): "
    ) or err.strip().splitlines()[-1].startswith("INTERRUPTED: ")
    assert not list(tmp_path.glob(".sepcheck-*.jsonl"))  # spools removed


def test_an_interrupt_during_an_application_check_keeps_the_open_port(
    tmp_path: Path, loopback_manager: int
) -> None:
    """The listener of ``loopback_manager`` never answers the secars request: the check
    waits (up to --timeout), Ctrl-C comes first, and the open port is in the report with
    its check marked unfinished."""
    report = tmp_path / "report.json"
    args = ("--as", "client", "--manager", "127.0.0.1", "--sep-version", "14.3 RU8")
    process = start(*args, "--timeout", "120", "--output", str(report))
    time.sleep(4)  # started, probed (milliseconds), and waiting in the check
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    data = json.loads(report.read_text())
    assert data["complete"] is False
    http = next(r for r in data["results"] if r["flow"] == "client-manager-http")
    assert http["state"] == "open"
    assert http["app"]["detail"] == "not finished: the run was interrupted"
    assert http["app"]["ok"] is None
