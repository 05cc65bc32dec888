"""Raw mode without the privilege: one line saying what is missing, exit 2, no probe sent.

Run as root with CAP_NET_RAW taken away (setpriv), and as an unprivileged user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (util-linux) to take the privilege away",
)

DROP_CAP = ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw")
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def sepcheck(prefix: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "sepcheck", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )


@pytest.mark.parametrize("prefix", [DROP_CAP, NOBODY], ids=["root-without-cap", "nobody"])
@pytest.mark.parametrize(
    "args",
    [
        ("check", "--as", "client", "--manager", "127.0.0.1", "--mode", "raw"),
        ("trace", "127.0.0.1", "--port", "8014"),
    ],
    ids=["check", "trace"],
)
def test_missing_privilege_is_one_line(prefix: tuple[str, ...], args: tuple[str, ...]) -> None:
    if prefix is NOBODY and not os.access(sys.executable, os.X_OK):
        pytest.skip("the interpreter is not usable by other users here")
    done = sepcheck(prefix, *args)
    assert done.returncode == 2, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("sepcheck: error: ")
    assert "root or the CAP_NET_RAW capability" in first
    assert "--mode connect works without it" in first
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_same_command_runs_as_root(tmp_path: Path) -> None:
    """The check above fails for want of the privilege, not for another reason."""
    done = sepcheck(
        (),
        "check",
        "--as",
        "client",
        "--manager",
        "127.0.0.1",
        "--mode",
        "raw",
        "--format",
        "json",
        "--timeout",
        "0.3",
    )
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["parameters"]["mode"] == "raw"


def test_auto_mode_falls_back_to_connect() -> None:
    args = ("check", "--as", "client", "--manager", "127.0.0.1", "--mode", "auto")
    args += ("--format", "json", "--timeout", "0.3")
    without = sepcheck(DROP_CAP, *args)
    assert without.returncode in (0, 1), without.stderr
    assert json.loads(without.stdout)["parameters"]["mode"] == "connect"
    with_cap = sepcheck((), *args)
    assert json.loads(with_cap.stdout)["parameters"]["mode"] == "raw"
