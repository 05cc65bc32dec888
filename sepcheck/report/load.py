"""Read a report back from a file, with clear errors for what is not a usable report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sepcheck.errors import Location, SepcheckError
from sepcheck.report.model import SCHEMA_VERSION, Report
from sepcheck.tomlsrc import file_kind, format_key

if TYPE_CHECKING:
    from sepcheck.listen.report import ListenReport

_EDITED = "the file was changed by hand or by another tool"


class ReportError(SepcheckError):
    """A report file that cannot be read: missing, truncated, foreign or too new."""


def load_report(path: Path) -> Report:
    return _check_report(path, _parse(path, _read_text(path)))


def load_site_report(path: Path) -> Report | ListenReport:
    """A report of `sepcheck check`, or of `sepcheck listen` (``kind: sepcheck-listen``):
    what `merge` reads."""
    # The responder's modules load only for its reports.
    from sepcheck.listen.report import ListenReport

    data = _parse(path, _read_text(path))
    if isinstance(data, dict) and data.get("kind") == "sepcheck-listen":
        try:
            return ListenReport.model_validate(data)
        except ValidationError as exc:
            raise _invalid(path, exc, "invalid responder report") from None
    return _check_report(path, data)


def _read_text(path: Path) -> str:
    hint = "give the JSON report of sepcheck check --output"
    try:
        # stat() first: opening a FIFO blocks, and /dev/zero never ends.
        kind = file_kind(path.stat().st_mode)
        if kind is not None:
            raise ReportError(
                f"report path is {kind}, not a file", location=Location(path), hint=hint
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            "report file not found",
            location=Location(path),
            hint="check the path (relative paths start from the current folder)",
        ) from None
    except UnicodeDecodeError:
        raise ReportError(
            "not a sepcheck report: not UTF-8 text", location=Location(path), hint=hint
        ) from None
    except OSError as exc:
        raise ReportError(
            f"cannot read report: {exc.strerror or exc}", location=Location(path), hint=hint
        ) from None
    return text


def _check_report(path: Path, data: Any) -> Report:
    # Say which is missing; and a version this sepcheck cannot read is said as such
    # before a missing results list (a newer schema may have named it otherwise).
    missing = (
        "not a JSON object"
        if not isinstance(data, dict)
        else "no schema_version"
        if "schema_version" not in data
        else None
    )
    if missing is None:
        _check_version(path, data["schema_version"])
        missing = None if "results" in data else "no results"
    if missing is not None:
        raise ReportError(
            f"not a sepcheck report ({missing})",
            location=Location(path),
            hint="give the JSON report of sepcheck check --output",
        )
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        raise _invalid(path, exc, "invalid report") from None


def _invalid(path: Path, exc: ValidationError, what: str) -> ReportError:
    """The first problem pydantic found, located at its key."""
    problem = exc.errors(include_url=False)[0]
    key = format_key([p for p in problem["loc"] if isinstance(p, str | int)])
    # Our validators' messages come prefixed by pydantic with "Value error, ".
    message = problem["msg"].removeprefix("Value error, ")
    return ReportError(f"{what}: {message}", location=Location(path, None, key), hint=_EDITED)


def _parse(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"not valid JSON ({_where(exc)})"
            + ("; the file looks truncated" if _truncated(exc, text) else ""),
            location=Location(path, exc.lineno),
            hint="use a report written by sepcheck check --output (they are written whole)",
        ) from None
    except RecursionError:
        # json parses nested arrays and objects by recursion; a report nests five levels.
        raise ReportError(
            "not a sepcheck report: arrays or objects nested too deeply to read",
            location=Location(path),
            hint="give the JSON report of sepcheck check --output",
        ) from None
    except ValueError as exc:
        # A number of more digits than int() converts (4,300 by default) is a plain
        # ValueError, not a JSONDecodeError; its message is advice for programmers.
        raise ReportError(
            "not a sepcheck report: it holds a number too long to read"
            if "integer string conversion" in str(exc)
            else f"not valid JSON ({exc})",
            location=Location(path),
            hint=_EDITED,
        ) from None


def _truncated(exc: json.JSONDecodeError, text: str) -> bool:
    # An unterminated string is placed where it starts, but the decoder says so only
    # when the text ends before its closing quote.
    return exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")


def _where(exc: json.JSONDecodeError) -> str:
    """The decoder's message with its place: some messages end in "at" already
    ("Unterminated string starting at"), which must not become "at at"."""
    place = f"line {exc.lineno}, column {exc.colno}"
    return f"{exc.msg} {place}" if exc.msg.endswith(" at") else f"{exc.msg} at {place}"


def _check_version(path: Path, version: object) -> None:
    """Say what is wrong with ``schema_version`` in words, before pydantic would."""
    where = Location(path, None, "schema_version")
    # bool is an int in Python, but true is no version; nor are 1.0 and "1".
    if isinstance(version, bool) or not isinstance(version, int):
        raise ReportError(
            f"must be a whole number, not {_describe(version)}",
            location=where,
            hint=f"reports of this sepcheck have schema_version {SCHEMA_VERSION}; {_EDITED}",
        )
    if version < 1:
        raise ReportError(
            f"{_describe(version)} is no report schema (they are numbered from 1)",
            location=where,
            hint=f"reports of this sepcheck have schema_version {SCHEMA_VERSION}; {_EDITED}",
        )
    if version > SCHEMA_VERSION:
        raise ReportError(
            f"report schema {_describe(version)} is newer than this sepcheck reads "
            f"({SCHEMA_VERSION})",
            location=where,
            hint="upgrade sepcheck to read it",
        )


def _describe(value: object) -> str:
    """A JSON value in a few words: the value itself when short, else its kind (dumping a
    list could be long, or nested deeper than json.dumps recurses)."""
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
