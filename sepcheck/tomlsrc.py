"""Read TOML input files and point at lines in them.

tomllib reports syntax errors with a line number but keeps no positions for valid
documents. Validation errors are found later, by key path, so this module maps a key
path (``entry[3].port``, ``roles.client.hosts``) back to the line that defines it. It is a
best effort over the common layouts (table headers, arrays of tables, ``key = value``
lines); when it cannot find the line, errors still name the key path.

Reading guards against inputs that are not TOML files at all (a FIFO, /dev/zero, a disk
image, 3,000 nested brackets): each is refused with a one-line error before it can hang
sepcheck, exhaust its memory or overflow tomllib's recursion.
"""

from __future__ import annotations

import codecs
import re
import stat
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sepcheck.errors import Location, SepcheckError

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")
_TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")

KeyPath = Sequence[str | int]


MAX_INPUT_BYTES = 16 * 1024 * 1024
"""Largest topology or catalogue file read. Real ones are a few kilobytes; the limit keeps
a wrong path (a disk image, a log) from being read whole into memory."""
MAX_NESTING = 32
"""Deepest nesting of arrays and tables accepted. sepcheck's files nest five levels
(``roles.client[0].hosts[0]``); the limit stays far below the depth at which tomllib, which
parses by recursion, would fail with RecursionError, so the error is the same at any depth."""


def file_kind(mode: int) -> str | None:
    """What a file of ``st_mode`` is, in words, when it is not a regular file; else None.

    Input files are stat()ed and refused by this before they are opened: opening a FIFO
    blocks until a writer comes, and reading a device like /dev/zero never ends.
    """
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _too_deep(document: dict[str, Any]) -> tuple[str | int, ...] | None:
    """Key path of the first list or table nested deeper than MAX_NESTING, if any; walked
    without recursion, since the point is to refuse what recursion cannot handle."""
    stack: list[tuple[object, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict | list) and len(path) > MAX_NESTING:
            return path  # as deep as its brackets would be: x = [[1]] is x[0] at 2 levels
        if isinstance(item, dict):
            stack.extend((value, (*path, key)) for key, value in item.items())
        elif isinstance(item, list):
            stack.extend((value, (*path, index)) for index, value in enumerate(item))
    return None


def _deep_line(text: str) -> int | None:
    """Line on which brackets and braces nest deeper than MAX_NESTING, skipping strings
    and comments roughly (a triple quote reads as three quotes): it only places an error
    tomllib could not report itself."""
    depth, line, quote, escaped, comment = 0, 1, "", False, False
    for char in text:
        if char == "\n":
            line += 1
            comment = False
        elif comment:
            continue
        elif quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            comment = True
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line
        elif char in "]}":
            depth -= 1
    return None


def _long_number(text: str) -> int | None:
    """Offset of the first run of digits longer than int() converts, if any."""
    limit = sys.get_int_max_str_digits()
    found = re.search(rf"[0-9][0-9_]{{{limit},}}", text) if limit else None
    return found.start() if found else None


def read_text_file(path: Path, error: type[SepcheckError], what: str) -> str:
    """Read ``path`` as UTF-8 text, refusing what is not a regular file or is too large."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(
            f"{what} file not found",
            location=Location(path),
            hint="check the path (relative paths start from the current folder)",
        ) from None
    except OSError as exc:
        raise error(f"cannot read {what} file: {exc.strerror}", location=Location(path)) from None
    kind = file_kind(info.st_mode)
    if kind == "a folder":
        raise error(
            f"{what} path is a folder, not a file",
            location=Location(path),
            hint=f"give the path of the {what} file itself",
        )
    if kind is not None:
        raise error(
            f"{what} path is {kind}, not a regular file",
            location=Location(path),
            hint=f"save the {what} to a file and give that file's path",
        )
    too_large = error(
        f"{what} file is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB",
        location=Location(path),
        hint=f"a {what} is a few kilobytes of TOML: check that the path names the right file",
    )
    if info.st_size > MAX_INPUT_BYTES:
        raise too_large
    try:
        with path.open("rb") as handle:
            # One byte over the limit is enough to know: the file may have grown since
            # stat(), or be one (/proc) whose size stat() does not know.
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise error(f"cannot read {what} file: {exc.strerror}", location=Location(path)) from None
    if len(data) > MAX_INPUT_BYTES:
        raise too_large
    # Windows Notepad starts UTF-8 files with a byte-order mark, which TOML does not allow.
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} file is not UTF-8 text ({exc.reason} at byte {exc.start + bom})",
            location=Location(path),
            hint="save the file as UTF-8",
        ) from None
    # The same newlines as text mode's (\r\n and \r become \n), so that a file's digest
    # does not change with how it was read.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_toml(path: Path, error: type[SepcheckError], what: str) -> tuple[dict[str, Any], str]:
    """Read and parse ``path``; return the document and its text, or raise ``error``."""
    text = read_text_file(path, error, what)
    too_deep = f"invalid TOML: arrays or tables nested more than {MAX_NESTING} levels deep"
    deep_hint = "sepcheck's files nest a few levels: check that this is the right file"
    try:
        document = tomllib.loads(text)
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
    except RecursionError:
        raise error(too_deep, location=Location(path, _deep_line(text)), hint=deep_hint) from None
    except ValueError as exc:
        # tomllib lets int() refuse a number of more digits than Python converts (4,300 by
        # default, against slow conversions) with a plain ValueError, whose message is
        # advice for Python programmers; find the number's line instead.
        offset = _long_number(text)
        raise error(
            f"invalid TOML: {exc}" if offset is None else "invalid TOML: a number is too long",
            location=Location(path, None if offset is None else text.count("\n", 0, offset) + 1),
            hint="no value of a sepcheck file is a number this long: check the file",
        ) from None
    deep = _too_deep(document)
    if deep is not None:
        raise error(
            too_deep,
            location=Location(path, find_line(text, deep), format_key(deep[:1])),
            hint=deep_hint,
        )
    return document, text


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
