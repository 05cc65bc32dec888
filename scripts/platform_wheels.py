"""The runtime dependencies of pyproject.toml, as pip would install them on Windows and
macOS: `pip download --only-binary=:all: --platform <tag>` for each tag. pip evaluates
environment markers against this machine, not the target (pypa/pip#11664: uvloop,
`sys_platform != 'win32'`, would be fetched for Windows and fail), so the markers are
evaluated here for the target, on pyproject's list and then on the Requires-Dist of
every wheel downloaded, until every requirement of the target is met by a wheel.

Run by .ci/run: .venv/bin/python scripts/platform_wheels.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

PYTHON = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "implementation_name": "cpython",
    "implementation_version": "3.11.0",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_version": "",
}
WINDOWS = {**PYTHON, "sys_platform": "win32", "os_name": "nt", "platform_system": "Windows"}
MACOS = {**PYTHON, "sys_platform": "darwin", "os_name": "posix", "platform_system": "Darwin"}
# The oldest macOS each architecture's wheels allow (pydantic-core: 10.12 on Intel).
TARGETS = {
    "win_amd64": {**WINDOWS, "platform_machine": "AMD64"},
    "macosx_11_0_arm64": {**MACOS, "platform_machine": "arm64"},
    "macosx_10_12_x86_64": {**MACOS, "platform_machine": "x86_64"},
}


def applies(requirement: Requirement, env: dict[str, str], extras: set[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({**env, "extra": e}) for e in {"", *extras})


def requires_dist(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(name).decode())
    return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]


def unmet(wanted: list[Requirement], dest: Path, env: dict[str, str]) -> list[Requirement]:
    """The target's requirements (pyproject's and the wheels') no wheel in dest meets."""
    wheels: dict[str, list[Path]] = {}
    for wheel in dest.glob("*.whl"):
        wheels.setdefault(parse_wheel_filename(wheel.name)[0], []).append(wheel)
    extras: dict[str, set[str]] = {}
    for requirement in wanted:
        extras.setdefault(canonicalize_name(requirement.name), set()).update(requirement.extras)
    missing, queue, seen = [], list(wanted), set()
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        found = next(
            (
                w
                for w in wheels.get(name, [])
                if requirement.specifier.contains(parse_wheel_filename(w.name)[1], prereleases=True)
            ),
            None,
        )
        if found is None:
            missing.append(requirement)
            continue
        extras.setdefault(name, set()).update(requirement.extras)
        if (name, frozenset(extras[name])) in seen:
            continue
        seen.add((name, frozenset(extras[name])))
        queue += [r for r in requires_dist(found) if applies(r, env, extras[name])]
    return missing


def download(tag: str, requirements: list[Requirement], dest: Path) -> None:
    plain = [str(r).split(";")[0].strip() for r in requirements]  # markers: judged above
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-qq",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--platform",
        tag,
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--dest",
        str(dest),
        *plain,
    ]
    if subprocess.run(command, check=False).returncode != 0:
        sys.exit(f"ci: FAIL {tag}: no binary wheels for {' '.join(plain)} (pip's error above)")


project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
for tag, env in TARGETS.items():
    wanted = [r for r in map(Requirement, project["dependencies"]) if applies(r, env, set())]
    with tempfile.TemporaryDirectory(prefix="sepcheck-wheels-") as folder:
        dest, tried = Path(folder), set()
        missing = wanted
        while missing:
            asked = frozenset(map(str, missing))
            if asked in tried:
                sys.exit(f"ci: FAIL {tag}: no wheels meet {', '.join(sorted(asked))}")
            tried.add(asked)
            download(tag, missing, dest)
            missing = unmet(wanted, dest, env)
        built = sorted(w.name for w in dest.glob("*.whl") if not w.name.endswith("-any.whl"))
        count = len(list(dest.glob("*.whl")))
        print(
            f"ci: ok: {tag}: a wheel for each of the {count} distributions the runtime "
            f"dependencies need there; platform wheels: {', '.join(built)}"
        )
