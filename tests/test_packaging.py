"""The wheel carries the catalogue, the probe payloads and the example topology, and an
installed copy finds them wherever it is installed (not only in a source checkout)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("sepcheck-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (ROOT / "catalogue").glob("*.toml"):
        assert f"sepcheck/_data/catalogue/{data.name}" in names
    assert "sepcheck/_data/probes/udp.toml" in names
    assert "sepcheck/_data/examples/site.toml" in names
    assert "sepcheck/_data/schema/report.schema.json" in names
    assert not any(name.startswith("tests/") for name in names)


@pytest.mark.slow
def test_installed_copy_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    located = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sepcheck.data as d; print(d.data_dir('catalogue')); print(d.__file__)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(located[0]).is_relative_to(target)
    assert Path(located[1]).is_relative_to(target)
    result = subprocess.run(
        [sys.executable, "-m", "sepcheck", "catalogue", "--format", "json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(json.loads(result.stdout)) >= 39


@pytest.mark.slow
def test_a_plain_install_has_raw_mode_and_the_signal_safe_entry_point(wheel: Path) -> None:
    """Raw mode and trace need nothing beyond `pip install sepcheck` (scapy, the tests'
    packet oracle, is no runtime requirement: tests/net/test_packets.py runs raw mode's
    code with scapy unimportable), and the command starts at sepcheck.entry, which handles
    stop signals from the start."""
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    runtime = {
        re.split(r"[^A-Za-z0-9_.-]", line.removeprefix("Requires-Dist: "))[0]
        for line in requires
        if "extra ==" not in line
    }
    assert {"typer", "rich", "pydantic", "cryptography"} <= runtime
    assert "scapy" not in runtime
    assert "sepcheck = sepcheck.entry:main" in points
