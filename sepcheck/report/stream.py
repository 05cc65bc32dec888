"""Read a report's results one at a time, without holding the file, its JSON or its
models whole: the baseline of a check and both sides of a diff can be as large as the
largest run (a 121 MB report took 1.2 GB to load whole).

Only the exact layout ``writer.py`` writes is streamed: the head indented by two, then
``  "results": [``, one result per line (``    {...},``; the last without the comma),
``  ]`` and ``}``. Anything else, a report re-indented by a user or a damaged file, is
loaded whole by ``load_report``, so that every report that loads whole still loads, and
every bad file gets load_report's own message (a damaged file costs what it did before).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from pydantic import ValidationError

from sepcheck.report.load import load_report
from sepcheck.report.model import ReportHead, ResultItem
from sepcheck.tomlsrc import file_kind

T = TypeVar("T")

_RESULTS = '  "results": ['
_RESULTS_EMPTY = '  "results": []'
_ITEM = "    {"


class _NotStreamable(Exception):
    """The file is not in the writer's layout, or not valid: load it whole instead."""


def scan_report(path: Path, consume: Callable[[ReportHead, Iterator[ResultItem]], T]) -> T:
    """``consume(head, results)``, with the results read one by one as ``consume`` walks
    them (it must walk them all). For a file not in the writer's layout, or a bad one,
    ``consume`` may have been called already: it is called again on the whole load, or
    load_report's error is raised. So ``consume`` must keep no state of its own."""
    try:
        # stat() first, as load_report does: opening a FIFO blocks.
        if file_kind(path.stat().st_mode) is not None:
            raise _NotStreamable
        with path.open(encoding="utf-8", newline="\n") as handle:
            head, last = _head(handle)
            return consume(head, _results(handle, last))
    except (_NotStreamable, OSError, UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers JSON syntax errors and pydantic's ValidationError.
        report = load_report(path)
        return consume(report, iter(report.results))


def _head(handle: IO[str]) -> tuple[ReportHead, bool]:
    """The head, validated, and whether the results are empty (``"results": []``)."""
    lines: list[str] = []
    for line in handle:
        line = line.removesuffix("\n")
        if line in (_RESULTS, _RESULTS_EMPTY):
            if not lines or not lines[-1].endswith(","):
                raise _NotStreamable
            lines[-1] = lines[-1].removesuffix(",")
            data = json.loads("\n".join([*lines, "}"]))
            # ReportHead's schema_version is strict and bounded as Report's, but has a
            # default: a head without one is for load_report to name.
            if not isinstance(data, dict) or "schema_version" not in data:
                raise _NotStreamable
            return ReportHead.model_validate(data), line == _RESULTS_EMPTY
        lines.append(line)
    raise _NotStreamable


def _results(handle: IO[str], empty: bool) -> Iterator[ResultItem]:
    if not empty:
        for line in handle:
            # Not an item (nor "  ]" after an item's comma, which JSON forbids).
            if not line.startswith(_ITEM):
                raise _NotStreamable
            text = line.removesuffix("\n")
            more = text.endswith(",")
            data = json.loads(text.removesuffix(",") if more else text)
            try:
                yield ResultItem.model_validate(data)
            except ValidationError:
                raise _NotStreamable from None
            if not more:
                if handle.readline() != "  ]\n":
                    raise _NotStreamable
                break
    # A file that ends inside the results (truncated) ends here too.
    if handle.readline() not in ("}\n", "}") or handle.read().strip():
        raise _NotStreamable
