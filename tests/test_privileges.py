"""Raw mode without the privilege: one line saying what is missing, exit 2, no probe sent.

Run as root with CAP_NET_RAW taken away (setpriv), and as an unprivileged user.

Every run uses a copy of the package under test (this checkout's, the one the test process
imports) and of its dependencies, in a folder every user can read: the checkout or its venv
may live where other users cannot go (a private temporary folder, /root), and the installed
copy in the venv may be older than the checkout."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import sepcheck

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (util-linux) to take the privilege away",
)

DROP_CAP = ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw")
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
DATA = ("catalogue", "probes", "examples", "schema")
"""The data folders sepcheck.data looks for beside the package (in a checkout)."""


@dataclass(frozen=True)
class Install:
    python: str
    """An interpreter of this Python version that every user may run."""
    path: Path
    """The folder with sepcheck and its dependencies, for PYTHONPATH."""


def _open_to_all(folder: Path) -> bool:
    """Whether every user can reach ``folder``: each folder on its path is searchable."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (folder, *folder.parents))


def _shared_folder() -> Path:
    """A new, empty folder that every user can read, for the copy."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        base = Path(candidate)
        if base.is_dir() and os.access(base, os.W_OK) and _open_to_all(base):
            folder = Path(tempfile.mkdtemp(prefix="sepcheck-privileges-", dir=base))
            folder.chmod(0o755)
            return folder
    pytest.fail("no temporary folder here is reachable by every user")


def _runtime_distributions() -> list[importlib.metadata.Distribution]:
    """What ``sepcheck[raw]`` needs at run time, as installed beside this interpreter."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo: list[tuple[str, set[str]]] = [("sepcheck", {"raw"})]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in found:
            continue
        found[key] = dist = importlib.metadata.distribution(name)
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((requirement.name, set(requirement.extras)))
    del found["sepcheck"]  # the installed copy may be stale: the checkout's is copied
    return list(found.values())


def _copy_package(site: Path) -> None:
    package = Path(sepcheck.__file__).parent
    shutil.copytree(package, site / "sepcheck", ignore=shutil.ignore_patterns("__pycache__"))
    for name in DATA:
        beside = package.parent / name
        if not (package / "_data" / name).is_dir() and beside.is_dir():
            shutil.copytree(beside, site / name)


def _copy_dependencies(site: Path) -> None:
    for dist in _runtime_distributions():
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # scripts outside site-packages; byte code is rebuilt
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target = site / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


def _open_up(folder: Path) -> None:
    """Readable by all, whatever the umask of the copy or the modes of the originals."""
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            (Path(root) / name).chmod(0o755)
        for name in files:
            (Path(root) / name).chmod(0o644)


def _interpreter_for_all() -> str:
    """This Python version (so the copied compiled modules load), runnable by ``nobody``.
    A venv's interpreter lives in the venv, maybe in the checkout: its base comes first."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        getattr(sys, "_base_executable", sys.executable),
        sys.executable,
        shutil.which(f"python{version}") or "",
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ]
    for python in dict.fromkeys(c for c in candidates if c):
        done = subprocess.run(
            [*NOBODY, python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            cwd="/",
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return python
    pytest.skip(f"no Python {version} interpreter here is usable by other users")


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    folder = _shared_folder()
    try:
        site = folder / "site"
        site.mkdir()
        _copy_package(site)
        _copy_dependencies(site)
        _open_up(site)
        yield Install(_interpreter_for_all(), site)
    finally:
        shutil.rmtree(folder)


def sepcheck_run(
    install: Install, prefix: tuple[str, ...], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SEPCHECK_"))}
    env["PYTHONPATH"] = str(install.path)
    return subprocess.run(
        [*prefix, install.python, "-m", "sepcheck", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env=env,
        check=False,
    )


def test_the_runs_use_the_package_under_test(install: Install) -> None:
    """As nobody, the copy of this checkout's package is the one that runs."""
    done = subprocess.run(
        [*NOBODY, install.python, "-c", "import sepcheck; print(sepcheck.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PYTHONPATH": str(install.path), "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(install.path / "sepcheck" / "__init__.py")


@pytest.mark.parametrize("prefix", [DROP_CAP, NOBODY], ids=["root-without-cap", "nobody"])
@pytest.mark.parametrize(
    "args",
    [
        ("check", "--as", "client", "--manager", "127.0.0.1", "--mode", "raw"),
        ("trace", "127.0.0.1", "--port", "8014"),
    ],
    ids=["check", "trace"],
)
def test_missing_privilege_is_one_line(
    install: Install, prefix: tuple[str, ...], args: tuple[str, ...]
) -> None:
    done = sepcheck_run(install, prefix, *args)
    assert done.returncode == 2, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("sepcheck: error: ")
    assert "root or the CAP_NET_RAW capability" in first
    assert "--mode connect works without it" in first
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_same_command_runs_as_root(install: Install) -> None:
    """The check above fails for want of the privilege, not for another reason."""
    done = sepcheck_run(
        install,
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


def test_auto_mode_falls_back_to_connect(install: Install) -> None:
    args: tuple[str, ...] = ("check", "--as", "client", "--manager", "127.0.0.1")
    args += ("--mode", "auto", "--format", "json", "--timeout", "0.3")
    without = sepcheck_run(install, DROP_CAP, *args)
    assert without.returncode in (0, 1), without.stderr
    assert json.loads(without.stdout)["parameters"]["mode"] == "connect"
    with_cap = sepcheck_run(install, (), *args)
    assert json.loads(with_cap.stdout)["parameters"]["mode"] == "raw"
