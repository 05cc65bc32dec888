"""Option values checked before the first probe: a run of minutes must not end on a bad
number or an unwritable report path (the report would be lost, or half a set written)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from sepcheck.errors import UsageError

RATE_RANGE = (0.1, 10_000_000.0)
"""Packets per second (0 means no limit). Below 0.1 a run of a few probes takes hours."""
TIMEOUT_RANGE = (0.01, 3600.0)


def bounded(
    option: str, value: float, low: float, high: float, zero: str = "", env: str = ""
) -> float:
    """``value`` when finite and within [low, high] (or 0 when ``zero`` says what 0 means).
    ``env`` names the variable that can also give it, when one is set."""
    if zero and value == 0:
        return value
    if not math.isfinite(value) or not low <= value <= high:
        where = f"{option} (or {env}, which is set)" if env and env in os.environ else option
        allowed = f"from {low:g} to {high:,.0f}" + (f", or 0 ({zero})" if zero else "")
        raise UsageError(f"{where}: {value:g} is out of range", hint=f"use a number {allowed}")
    return value


def split_env_outputs(outputs: list[Path]) -> list[Path]:
    """SEPCHECK_OUTPUT holds several files separated by spaces (as the README says); a
    path given on the command line is taken as written."""
    env = os.environ.get("SEPCHECK_OUTPUT")
    if env is not None and [str(p) for p in outputs] == [env]:
        return [Path(part) for part in env.split()]
    return outputs


def writable_folder(folder: Path, what: str) -> None:
    """Fail now, not after every probe ran, when reports cannot be written in ``folder``
    (missing, not a folder, read-only, full): by creating and dropping a file there."""
    import tempfile  # a check or a trace needs it, not the command line being built

    if not folder.exists():
        raise UsageError(f"{what}: folder {folder} does not exist", hint="create it first")
    if not folder.is_dir():
        raise UsageError(
            f"{what}: {folder} is a file, not a folder", hint="name a folder for the reports"
        )
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(
            f"{what}: cannot write in {folder}: {exc.strerror or exc}",
            hint="choose a folder this user can write to (and with free space)",
        ) from None


def check_output(path: Path) -> None:
    """A report file can be written where it is named."""
    if path.is_dir():
        raise UsageError(
            f"--output {path}: is a folder, not a file",
            hint="name the report file (e.g. report.json), or use --output-dir for a folder",
        )
    writable_folder(path.parent if str(path.parent) else Path("."), f"--output {path}")
