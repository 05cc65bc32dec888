"""A folder of timestamped reports for scheduled audits (``check --output-dir``).

Names are ``sepcheck-<UTC time>-<tag>.<ext>`` (``sepcheck-20261129T031500Z-sepm01.json``;
the tag is the short host name unless --report-tag says otherwise):
they sort by time, and several vantage hosts can share one folder (each prunes only its
own reports). A run holds the folder's lock (``.sepcheck.lock``, flock) from before the
first probe to its last write, so two overlapping runs (a timer firing while the previous
audit still runs) never write the same file; the lock goes away with the process, even when
it is killed. Reports are written atomically (report/writer.py).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sepcheck.errors import SepcheckError, UsageError

LOCK_NAME = ".sepcheck.lock"
_STAMP = "%Y%m%dT%H%M%SZ"


class LockBusy(SepcheckError):
    """Another run holds the folder's lock: not bad input, a run to try again later."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h)


def host_tag(tag: str | None = None) -> str:
    """The host part of a report name: ``tag``, else the short host name; made safe in a
    file name (anything but letters, digits, '_' and '-' becomes '_')."""
    name = tag or socket.gethostname().split(".")[0] or "host"
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


@dataclass(frozen=True)
class Archive:
    folder: Path
    host: str

    def _pattern(self, extension: str) -> re.Pattern[str]:
        return re.compile(
            rf"sepcheck-(\d{{8}}T\d{{6}}Z)-{re.escape(self.host)}(?:\.(\d+))?\.{extension}"
        )

    def reports(self, extension: str) -> list[Path]:
        """This host's reports with ``extension``, oldest first."""
        pattern = self._pattern(extension)
        found: list[tuple[str, int, Path]] = []
        for path in self.folder.iterdir():
            match = pattern.fullmatch(path.name)
            if match and path.is_file():
                found.append((match.group(1), int(match.group(2) or 0), path))
        return [path for _, _, path in sorted(found)]

    def latest(self, extension: str = "json") -> Path | None:
        reports = self.reports(extension)
        return reports[-1] if reports else None

    def new_names(self, extensions: list[str], when: datetime | None = None) -> dict[str, Path]:
        """Fresh names for this run's reports, one per extension, sharing one stem that no
        existing report uses (two runs in the same second get .1, .2, ...; a tag never
        holds a dot, so the serial cannot be mistaken for part of it)."""
        stamp = (when or datetime.now(UTC)).strftime(_STAMP)
        serial = 0
        while True:
            suffix = f".{serial}" if serial else ""
            stem = f"sepcheck-{stamp}-{self.host}{suffix}"
            if not any(self.folder.glob(f"{glob.escape(stem)}.*")):
                return {ext: self.folder / f"{stem}.{ext}" for ext in extensions}
            serial += 1

    def prune(self, keep: int, extensions: list[str]) -> list[Path]:
        """Delete all but the ``keep`` newest of this host's reports per extension; only
        files named as this archive names them are ever touched."""
        removed: list[Path] = []
        for extension in extensions:
            reports = self.reports(extension)
            for path in reports[: max(0, len(reports) - keep)]:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        return removed


@contextlib.contextmanager
def folder_lock(folder: Path, wait: float) -> Iterator[None]:
    """Hold ``folder``'s run lock; wait up to ``wait`` seconds for it, then raise LockBusy."""
    if sys.platform == "win32":
        # flock is POSIX; a lock that vanishes with a killed process is what makes
        # overlapping runs safe, and Windows' byte-range locks were never tried here.
        raise UsageError(
            "--output-dir needs a POSIX system (its lock is flock), which Windows is not",
            hint="on Windows, write each report with --output FILE (atomic there too)",
        )
    import fcntl

    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SepcheckError(
            f"{path}: cannot create the lock file: {exc.strerror}",
            hint="the reports folder must be writable by the user sepcheck runs as",
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    raise LockBusy(
                        f"{folder}: another sepcheck run"
                        + (f" (pid {holder})" if holder else "")
                        + " is writing reports here",
                        hint="it still runs; give --lock-wait SECONDS to wait for it, or "
                        "space the schedule further apart",
                    ) from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            # A full disk shows here first, before any probe: say so, not a traceback.
            raise UsageError(
                f"{folder}: cannot write the reports folder's lock: {exc.strerror or exc}",
                hint="free some space in the reports folder, or choose another one",
            ) from None
        yield
    finally:
        # Closing releases the lock; the file stays (deleting it would let a third run
        # lock a new file while a second one waits on the old).
        os.close(fd)
