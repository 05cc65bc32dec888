"""Bad options and SEPCHECK_* values, as a user meets them (the real entry point, not
CliRunner): one line saying what is wrong, one hint, exit code 2, before any probe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def sepcheck(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "sepcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    return done.returncode, done.stderr


CHECK = ("check", "--as", "client", "--manager", "127.0.0.1", "--no-progress")


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("check", "--rate", "abc"), {}, "Invalid value for '--rate'"),
        (CHECK, {"SEPCHECK_RATE": "abc"}, "SEPCHECK_RATE"),
        (("check", "--as", "clint"), {}, "'clint' is not one of"),
        ((*CHECK, "--rate", "inf"), {}, "--rate: inf is out of range"),
        ((*CHECK, "--rate", "1e-9"), {}, "--rate: 1e-09 is out of range"),
        ((*CHECK, "--timeout", "inf"), {}, "--timeout: inf is out of range"),
        ((*CHECK, "--output", "/tmp"), {}, "--output /tmp: is a folder, not a file"),
        ((*CHECK, "--output", "/proc/report.json"), {}, "cannot write in /proc"),
        ((*CHECK, "--output-dir", "/etc/hostname"), {}, "is a file, not a folder"),
        (("nope",), {}, "No such command 'nope'"),
    ],
)
def test_one_line_and_a_hint(args: tuple[str, ...], env: dict[str, str], words: str) -> None:
    code, err = sepcheck(*args, env=env)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("sepcheck: error: ")
    assert words in lines[0]
    assert lines[1].startswith("  hint: ")


def test_sepcheck_output_holds_several_files(tmp_path: Path) -> None:
    code, err = sepcheck(*CHECK, "--quiet", env={"SEPCHECK_OUTPUT": "a.json b.md"}, cwd=tmp_path)
    assert code in (0, 1), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root (CI is root)")
def test_a_full_disk_names_the_report_it_could_not_write(tmp_path: Path) -> None:
    """Reports into a folder that fills up: the others are still written, and the run
    says which file failed and why (exit 2), instead of a traceback after every probe."""
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(full)], check=True)
    try:
        # The folder is writable (the check before probing passes) but too small (one page) for the
        # HTML page, which is larger than 4 kB.
        code, err = sepcheck(
            *CHECK, "--quiet", "-o", str(full / "r.html"), "-o", str(tmp_path / "r.json")
        )
    finally:
        subprocess.run(["umount", str(full)], check=True)
    assert code == 2, err
    assert "Traceback" not in err
    assert f"sepcheck: error: report {full / 'r.html'} not written: No space left on device" in err
    assert (tmp_path / "r.json").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root (CI is root)")
def test_a_full_temporary_folder_stops_the_run_in_one_line(tmp_path: Path) -> None:
    """The spool of results (TMPDIR) fills up mid-run: one line naming the folder and the
    reason, exit 2, instead of a traceback."""
    small = tmp_path / "tmp"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(small)], check=True)
    try:
        code, err = sepcheck(
            "check",
            "--as",
            "manager",
            "--client",
            "127.0.1.0/24",
            "--feature",
            "windows_push",
            "--workers",
            "1",
            "--quiet",
            env={"TMPDIR": str(small)},
        )
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines[0] == (
        f"sepcheck: error: cannot keep the results in {small}: No space left on device"
    ), err
    assert lines[1].startswith("  hint: free some space there")


def test_reports_that_are_not_files_are_refused_at_once(tmp_path: Path) -> None:
    """diff, merge and --baseline on /dev/zero or a FIFO: one line, not a read that never
    ends (timeout=60 in sepcheck() makes a hang a failure)."""
    good = tmp_path / "good.json"
    code, err = sepcheck(*CHECK, "--quiet", "-o", str(good))
    assert good.exists(), err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for args in (
        ("diff", str(good), "/dev/zero"),
        ("merge", str(good), str(fifo)),
        (*CHECK, "--baseline", str(fifo)),
    ):
        code, err = sepcheck(*args)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 2, err
        assert "not a file" in lines[0]
        assert lines[1].startswith("  hint: ")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root (CI is root)")
def test_a_full_reports_folder_is_said_before_probing(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(full)], check=True)
    try:
        (full / "filler").write_bytes(b"x" * 4096)  # the one page of the folder, taken
        code, err = sepcheck(*CHECK, "--quiet", "--output-dir", str(full))
    finally:
        subprocess.run(["umount", str(full)], check=True)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert "No space left on device" in lines[0]
