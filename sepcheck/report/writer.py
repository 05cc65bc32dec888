"""Write the JSON report: head fields, then the spooled results, atomically.

The file is written to a temporary name in the destination folder, flushed and fsynced,
then renamed over the destination (and the folder fsynced), so a crash or Ctrl-C leaves
either the old file or the complete new one, never a truncated report.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from sepcheck.report.model import ReportHead


def spool_lines(spools: Sequence[Path]) -> Iterator[str]:
    """Every whole result line of the spools. A second Ctrl-C can cut the last line of a
    spool short: it is left out rather than let a report stop being JSON."""
    for spool in spools:
        with spool.open(encoding="utf-8") as lines:
            for line in lines:
                line = line.rstrip("\n")
                if line.startswith("{") and line.endswith("}"):
                    yield line


def report_chunks(head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    data = head.model_dump(mode="json")
    text = json.dumps(data, indent=2)
    # Results go last: they are the long part, and they are streamed from the spools.
    yield text[:-2] + ',\n  "results": ['
    first = True
    for line in spool_lines(spools):
        yield ("\n    " if first else ",\n    ") + line
        first = False
    yield "]\n}\n" if first else "\n  ]\n}\n"


def write_stream(chunks: Iterator[str], out: IO[str]) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def write_atomic(path: Path, chunks: Iterator[str]) -> None:
    """Write ``chunks`` to ``path`` so that readers never see a partial file."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write_stream(chunks, handle)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
