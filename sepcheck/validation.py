"""Turn pydantic validation errors into our one-line, located input errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sepcheck.errors import Location, SepcheckError
from sepcheck.tomlsrc import KeyPath, find_line, format_key

# pydantic's words for a value of the wrong kind, said as a TOML writer needs to hear it.
_KINDS: dict[str, tuple[str, str]] = {
    "list_type": ("must be a list", 'put the value(s) in square brackets: ["..."]'),
    "string_type": ("must be text", 'put the value in double quotes: "..."'),
    "int_type": ("must be a whole number", "write the number without quotes"),
    "int_parsing": ("must be a whole number", "write the number without quotes"),
    "bool_type": ("must be true or false", "write true or false, without quotes"),
    "bool_parsing": ("must be true or false", "write true or false, without quotes"),
    "dict_type": ("must be a table", "write it as a [table] with keys under it"),
    "model_type": ("must be a table", "write it as a [table] with keys under it"),
}


def _message(error_type: str, msg: str, key: str) -> tuple[str, str | None]:
    field = key.rsplit(".", 1)[-1]
    if error_type == "extra_forbidden":
        return f"unknown key {field!r}", "remove it or check its spelling against the docs"
    if error_type == "missing":
        return f"required key {field!r} is missing", f"add {field} = ..."
    if error_type in _KINDS:
        return _KINDS[error_type]
    if error_type in ("enum", "literal_error"):
        # "Input should be 'windows', 'mac' or 'linux'"
        choices = msg.removeprefix("Input should be ")
        return f"must be {choices}", "use one of those values, in double quotes"
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
        union_level = bool(loc) and isinstance(loc[-1], str) and bool(_UNION_TAG.match(loc[-1]))
        clean = tuple(p for p in loc if not (isinstance(p, str) and _UNION_TAG.match(p)))
        problems.append({**problem, "loc": clean, "union_level": union_level})
    # A union member that did not even have the value's shape ("not a list", "not a
    # table") says nothing when another member found a real problem inside the value.
    specific = [p for p in problems if not (p["union_level"] and p["type"] in _SHAPE_ERRORS)]
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
