"""Turn pydantic validation errors into our one-line, located input errors."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from sepcheck.errors import Location, SepcheckError
from sepcheck.tomlsrc import KeyPath, find_line, format_key


def _message(error_type: str, msg: str, key: str) -> tuple[str, str | None]:
    field = key.rsplit(".", 1)[-1]
    if error_type == "extra_forbidden":
        return f"unknown key {field!r}", "remove it or check its spelling against the docs"
    if error_type == "missing":
        return f"required key {field!r} is missing", f"add {field} = ..."
    # pydantic prefixes messages of our own validators with "Value error, ".
    return msg.removeprefix("Value error, "), None


def located_error(
    exc: ValidationError,
    error: type[SepcheckError],
    path: Path | None,
    text: str,
    prefix: KeyPath = (),
    label: str = "",
) -> SepcheckError:
    """Build ``error`` for the first problem in ``exc``, the others going to its detail."""
    problems = exc.errors(include_url=False)
    lines: list[str] = []
    first: SepcheckError | None = None
    for problem in problems:
        loc = (*prefix, *(p for p in problem["loc"] if isinstance(p, str | int)))
        key = format_key(loc)
        message, hint = _message(problem["type"], problem["msg"], key)
        value = problem.get("input")
        line = find_line(text, loc, value if isinstance(value, str) else None)
        lines.append(f"{key}: {message}")
        if first is None:
            first = error(
                f"{label}{message}" if label else message,
                location=Location(path, line, key),
                hint=hint,
            )
    assert first is not None  # a ValidationError always holds at least one problem
    if len(lines) > 1:
        first.detail = "all problems:\n  " + "\n  ".join(lines)
    return first
