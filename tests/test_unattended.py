"""Scheduled, unattended runs of `check`: quiet output, no colour when piped, timestamped
reports in a folder with pruning, the folder lock, and configuration from the environment.

Real subprocesses probing loopback only (a listener of the test's own, on a port the
test's catalogue names), so exit codes, stdout/stderr and files are what cron sees."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sepcheck.archive import LOCK_NAME, folder_lock, host_tag

NAME = re.compile(r"sepcheck-\d{8}T\d{6}Z-" + re.escape(host_tag()) + r"(\.\d+)?\.(json|prom)")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server
    server.close()


@pytest.fixture
def catalogue(tmp_path: Path, listener: socket.socket) -> Path:
    """One flow, client -> manager on the listener's port."""
    port = listener.getsockname()[1]
    path = tmp_path / "catalogue.toml"
    path.write_text(
        "schema = 1\n[[entry]]\n"
        'id = "client-manager-lab"\nrow = 0\nprotocol = "tcp"\n'
        f'port = {port}\nsource = "client"\ndestination = "manager"\n'
        'purpose = "test"\nconfigurable = true\nversions = "all"\n'
    )
    return path


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    return folder


def sepcheck(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEPCHECK_")}
    base.pop("FORCE_COLOR", None)
    base["TERM"] = "xterm-256color"  # a colour terminal type, yet the output is a pipe
    return subprocess.run(
        [sys.executable, "-m", "sepcheck", "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=base | (env or {}),
        check=False,
    )


def quick(catalogue: Path, *args: str) -> tuple[str, ...]:
    return ("--catalogue", str(catalogue), "--as", "client", "--manager", "127.0.0.1", *args)


def test_quiet_run_into_a_folder(catalogue: Path, reports: Path) -> None:
    done = sepcheck(*quick(catalogue, "--quiet", "--output-dir", str(reports)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("PASS: 1 flow (")
    files = sorted(p.name for p in reports.iterdir())
    assert files[0] == LOCK_NAME
    assert len(files) == 2
    assert NAME.fullmatch(files[1])
    assert lines[1] == f"reports: {reports / files[1]}"
    report = json.loads((reports / files[1]).read_text())
    assert report["complete"] is True
    assert report["results"][0]["state"] == "open"


def test_no_colour_or_progress_when_piped(catalogue: Path) -> None:
    done = sepcheck(*quick(catalogue))
    assert done.returncode == 0, done.stderr
    assert "client-manager-lab" in done.stdout
    assert "\x1b[" not in done.stdout
    assert "\x1b[" not in done.stderr
    assert "probing" not in done.stderr  # the progress bar's label


def test_keep_prunes_only_this_hosts_reports(catalogue: Path, reports: Path) -> None:
    host = host_tag()
    old = [reports / f"sepcheck-2026010{day}T000000Z-{host}.json" for day in range(1, 6)]
    for path in old:
        path.write_text("{}")
    stranger = reports / "sepcheck-20260101T000000Z-otherhost.json"
    unrelated = reports / "notes.json"
    for path in (stranger, unrelated):
        path.write_text("{}")
    done = sepcheck(*quick(catalogue, "-q", "--output-dir", str(reports), "--keep", "2"))
    assert done.returncode == 0, done.stderr
    left = {p.name for p in reports.iterdir()} - {LOCK_NAME}
    ours = sorted(name for name in left if name.endswith(f"-{host}.json"))
    assert len(ours) == 2
    assert ours[0] == old[-1].name  # the newest old one stays, beside this run's
    assert stranger.name in left
    assert unrelated.name in left


def test_several_formats_in_the_folder(catalogue: Path, reports: Path) -> None:
    done = sepcheck(
        *quick(catalogue, "-q", "--output-dir", str(reports)),
        "--output-dir-format",
        "json",
        "--output-dir-format",
        "prom",
    )
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in reports.iterdir() if p.name != LOCK_NAME)
    assert [n.rsplit(".", 1)[1] for n in names] == ["json", "prom"]
    assert names[0].rsplit(".", 1)[0] == names[1].rsplit(".", 1)[0]  # one stem per run
    assert "sepcheck_flow_up" in (reports / names[1]).read_text()


def test_configuration_from_the_environment(catalogue: Path, reports: Path, tmp_path: Path) -> None:
    topology = tmp_path / "site.toml"
    topology.write_text('[roles.manager]\nhosts = ["127.0.0.1"]\n')
    env = {
        "SEPCHECK_TOPOLOGY": str(topology),
        "SEPCHECK_AS": "client",
        "SEPCHECK_CATALOGUE": str(catalogue),
        "SEPCHECK_OUTPUT_DIR": str(reports),
        "SEPCHECK_QUIET": "1",
        "SEPCHECK_STAGE": "pre-install",
    }
    done = sepcheck(env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    (report,) = (p for p in reports.iterdir() if p.name != LOCK_NAME)
    data = json.loads(report.read_text())
    assert data["parameters"]["stage"] == "pre-install"
    assert data["topology"]["path"] == str(topology)
    # The command line wins over the environment.
    done = sepcheck("--stage", "operational", "--format", "json", env=env | {"SEPCHECK_QUIET": ""})
    assert json.loads(done.stdout)["parameters"]["stage"] == "operational"
    # A bad value is a one-line error that names the variable.
    done = sepcheck(env=env | {"SEPCHECK_STAGE": "sometimes"})
    assert done.returncode == 2
    assert "SEPCHECK_STAGE" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_held_lock_stops_an_overlapping_run(catalogue: Path, reports: Path) -> None:
    with folder_lock(reports, 0):
        done = sepcheck(*quick(catalogue, "-q", "--output-dir", str(reports)))
    assert done.returncode == 75
    assert f"another sepcheck run (pid {os.getpid()}) is writing reports here" in done.stderr
    assert "Traceback" not in done.stderr
    assert {p.name for p in reports.iterdir()} == {LOCK_NAME}  # nothing probed or written


def test_overlapping_runs_wait_and_write_their_own_files(catalogue: Path, reports: Path) -> None:
    """Two runs started while a third holds the lock: each waits its turn (--lock-wait),
    and the two reports, written in the same second, get different names."""
    args = quick(catalogue, "-q", "--output-dir", str(reports), "--lock-wait", "30")
    with folder_lock(reports, 0):
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "sepcheck", "check", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        time.sleep(1.5)  # both are now waiting for the lock
        assert all(run.poll() is None for run in runs)
    for run in runs:
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    names = sorted(p.name for p in reports.iterdir() if p.name != LOCK_NAME)
    assert len(names) == 2
    for name in names:
        assert NAME.fullmatch(name)
        assert json.loads((reports / name).read_text())["complete"] is True


def test_lock_wait_gives_up_in_time(catalogue: Path, reports: Path) -> None:
    release = threading.Event()

    def hold() -> None:
        with folder_lock(reports, 0):
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        time.sleep(0.2)
        done = sepcheck(*quick(catalogue, "-q", "--output-dir", str(reports), "--lock-wait", "1"))
        assert done.returncode == 75
    finally:
        release.set()
        holder.join()


def test_baseline_previous_compares_with_the_last_run(
    catalogue: Path, reports: Path, listener: socket.socket
) -> None:
    args = quick(
        catalogue,
        "-q",
        "--output-dir",
        str(reports),
        "--baseline",
        "previous",
        "--fail-on",
        "regression",
    )
    first = sepcheck(*args)
    assert first.returncode == 0, first.stderr
    assert "no earlier report of this host" in first.stderr
    listener.close()  # the flow's port now refuses: a regression
    second = sepcheck(*args)
    assert second.returncode == 1, second.stderr
    assert "1 regressions" in second.stderr


def test_output_dir_must_exist(catalogue: Path, tmp_path: Path) -> None:
    done = sepcheck(*quick(catalogue, "--output-dir", str(tmp_path / "missing")))
    assert done.returncode == 2
    assert "--output-dir: folder" in done.stderr
    done = sepcheck(*quick(catalogue, "--keep", "3"))
    assert done.returncode == 2
    assert "need --output-dir" in done.stderr
