"""stdout that does not take the output: a full device is an error in one line (exit 2),
a pipe its reader closed early (`| head`) is not: the report files, the summary on
stderr and the run's own exit code stay. Real processes: the failures come from the
file descriptor, which an in-process runner does not have."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ["check", "--as", "client", "--manager", "127.0.0.1", "--stage", "pre-install"]
pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


def _run(args: list[str], stdout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sepcheck", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        CHECK,
        [*CHECK, "--format", "json"],
        ["catalogue"],
        ["catalogue", "--format", "json"],
        ["plan", "--as", "client", "--topology", "examples/site.toml"],
    ],
)
def test_a_full_stdout_is_one_error_and_exit_2(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = _run(args, full.fileno())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "sepcheck: error: cannot write to stdout: No space left on device" in done.stderr


def test_a_closed_pipe_keeps_the_summary_files_and_exit_code(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        done = _run([*CHECK, "--format", "prometheus", "-o", str(report)], write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("PASS: 7 flows"), done.stderr
    assert "error" not in done.stderr
    assert report.is_file()


def test_catalogue_into_a_closed_pipe_is_not_an_error() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _run(["catalogue"], write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")
