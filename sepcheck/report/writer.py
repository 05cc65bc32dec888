"""Write the JSON report: head fields, then the spooled results, atomically.

On Linux the file is written unnamed (O_TMPFILE) in the destination folder, fsynced, and
only then given a name and renamed over the destination (and the folder fsynced): a run
killed at any moment, even by SIGKILL, leaves either the old file or the complete new one,
and no half-written file under any name. Elsewhere (or on a filesystem without O_TMPFILE)
the file is written under a hidden temporary name first, which a SIGKILL can leave behind.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from sepcheck.report.model import ReportHead
from sepcheck.report.rows import spool_lines


def report_chunks(head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    """The JSON report. Its results are the spool lines copied verbatim, not typed rows
    (``rows.SpooledRows``) as the other formats read: each line already is the result's
    serialized form (``model.result_record``), and parsing it only to dump it again would
    cost the largest report most of its writing time."""
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
    fd = _unnamed_file(folder)
    if fd is None or sys.platform != "linux":  # O_TMPFILE and /proc are Linux's
        _write_named_temp(path, folder, chunks)
    else:
        temp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                write_stream(chunks, handle)
                os.fsync(handle.fileno())
                # Named only once complete; linkat cannot replace a file, so the complete
                # file gets a hidden name for the moment before the rename.
                # (A dir_fd makes Python call linkat with AT_SYMLINK_FOLLOW; plain link()
                # would try to link the /proc symlink itself.)
                dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.link(
                        f"/proc/self/fd/{handle.fileno()}",
                        temp.name,
                        dst_dir_fd=dir_fd,
                        follow_symlinks=True,
                    )
                finally:
                    os.close(dir_fd)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _unnamed_file(folder: Path) -> int | None:
    """An unnamed file in ``folder`` (Linux O_TMPFILE), or None where there is none."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o644)
    except OSError as exc:
        if isinstance(exc, (PermissionError, FileNotFoundError, NotADirectoryError)):
            raise
        return None  # the filesystem does not support it (EOPNOTSUPP, EISDIR, EINVAL)


def _write_named_temp(path: Path, folder: Path, chunks: Iterator[str]) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write_stream(chunks, handle)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
