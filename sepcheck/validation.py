"""Turn pydantic validation errors into our one-line, located input errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


# pydantic names the member of a union it tried (``_RoleDoc``, ``list[_RoleDoc]``) in an
# error's location; those are class names, never keys of the user's file.
_UNION_TAG = re.compile(r"^(?:list|dict|tuple)?\[?_?[A-Z][A-Za-z0-9_]*\]?$")
_SHAPE_ERRORS = {"list_type", "dict_type", "model_type", "model_attributes_type", "tuple_type"}


def _user_problems(exc: ValidationError) -> list[dict[str, Any]]:
    """The problems in the user's words: union member names dropped from locations, and,
    when a value matched none of a union's shapes for a reason, the "not that shape"
    complaints of the other members left out."""
    problems: list[dict[str, Any]] = []
    for problem in exc.errors(include_url=False):
        loc = problem["loc"]
        tagged = any(isinstance(part, str) and _UNION_TAG.match(part) for part in loc)
        clean = tuple(p for p in loc if not (isinstance(p, str) and _UNION_TAG.match(p)))
        problems.append({**problem, "loc": clean, "tagged": tagged})
    specific = [p for p in problems if not (p["tagged"] and p["type"] in _SHAPE_ERRORS)]
    return specific or problems


def located_error(
    exc: ValidationError,
    error: type[SepcheckError],
    path: Path | None,
    text: str,
    prefix: KeyPath = (),
    label: str = "",
) -> SepcheckError:
    """Build ``error`` for the first problem in ``exc``, the others going to its detail."""
    problems = _user_problems(exc)
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
