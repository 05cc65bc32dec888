"""Read a report back from a file, with clear errors for what is not a usable report."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from sepcheck.errors import Location, SepcheckError
from sepcheck.report.model import SCHEMA_VERSION, Report
from sepcheck.tomlsrc import format_key


class ReportError(SepcheckError):
    """A report file that cannot be read: missing, truncated, foreign or too new."""


def load_report(path: Path) -> Report:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError("report file not found", location=Location(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read report: {exc}", location=Location(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            + ("; the file looks truncated" if exc.pos >= len(text.rstrip()) else ""),
            location=Location(path, exc.lineno),
            hint="use a report written by sepcheck check --output (they are written whole)",
        ) from None
    if not isinstance(data, dict) or "schema_version" not in data or "results" not in data:
        raise ReportError(
            "not a sepcheck report (no schema_version or results)",
            location=Location(path),
            hint="give the JSON report of sepcheck check --output",
        )
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ReportError(
            f"report schema {version} is newer than this sepcheck reads ({SCHEMA_VERSION})",
            location=Location(path),
            hint="upgrade sepcheck to read it",
        )
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        key = format_key([p for p in problem["loc"] if isinstance(p, str | int)])
        raise ReportError(
            f"invalid report: {problem['msg']}",
            location=Location(path, None, key),
            hint="the file was changed by hand or by another tool",
        ) from None
