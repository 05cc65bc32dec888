"""Read TOML input files and point at lines in them.

tomllib reports syntax errors with a line number but keeps no positions for valid
documents. Validation errors are found later, by key path, so this module maps a key
path (``entry[3].port``, ``roles.client.hosts``) back to the line that defines it. It is a
best effort over the common layouts (table headers, arrays of tables, ``key = value``
lines); when it cannot find the line, errors still name the key path.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sepcheck.errors import Location, SepcheckError

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")
_TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")

KeyPath = Sequence[str | int]


def load_toml(path: Path, error: type[SepcheckError], what: str) -> tuple[dict[str, Any], str]:
    """Read and parse ``path``; return the document and its text, or raise ``error``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(
            f"{what} file not found",
            location=Location(path),
            hint="check the path (relative paths start from the current folder)",
        ) from None
    except IsADirectoryError:
        raise error(f"{what} path is a folder, not a file", location=Location(path)) from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            location=Location(path),
            hint="save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise error(f"cannot read {what} file: {exc.strerror}", location=Location(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_LINE_RE.search(message)
        line = int(found.group(1)) if found else None
        message = _TOML_LINE_RE.sub("", message).strip()
        raise error(
            f"invalid TOML: {message}",
            location=Location(path, line),
            hint="fix the TOML syntax (each key once per table, strings in quotes)",
        ) from None


def format_key(path: KeyPath) -> str:
    """``("roles", "client", "hosts", 2)`` -> ``roles.client.hosts[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _header_path(name: str, is_array: bool, counters: dict[str, int]) -> tuple[str | int, ...]:
    parts: tuple[str | int, ...] = tuple(p.strip().strip("\"'") for p in name.split("."))
    if is_array:
        index = counters.get(name, -1) + 1
        counters[name] = index
        parts = (*parts, index)
    return parts


def find_line(text: str, path: KeyPath, value: str | None = None) -> int | None:
    """Best-effort 1-based line of key ``path`` (and of ``value`` under it) in ``text``."""
    target = tuple(path)
    counters: dict[str, int] = {}
    table: tuple[str | int, ...] = ()
    best: tuple[int, int] | None = None  # (matched length, line)
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        header = _HEADER_RE.match(line)
        if header:
            table = _header_path(header.group(2), header.group(1) == "[[", counters)
            candidate = table
        else:
            key = _KEY_RE.match(line)
            if not key:
                continue
            parts = tuple(p.strip("\"'") for p in key.group(1).split("."))
            candidate = table + parts
        length = len(candidate)
        if target[:length] != candidate and candidate[: len(target)] == target:
            # [[roles.client]] is the table roles.client[0]: it is where roles.client is.
            length = len(target)
        elif target[:length] != candidate:
            continue
        if best is None or length > best[0]:
            best = (length, number)
    if best is None:
        return None
    if value is not None:
        # Values of a list may sit on the key's line or on the lines that follow.
        needle_double, needle_single = f'"{value}"', f"'{value}'"
        for offset, line in enumerate(lines[best[1] - 1 :]):
            if offset and (_KEY_RE.match(line) or _HEADER_RE.match(line)):
                break
            if needle_double in line or needle_single in line:
                return best[1] + offset
    return best[1]
