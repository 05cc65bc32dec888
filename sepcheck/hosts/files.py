"""Hosts files: a role's ``host_files``, one host spec per line.

A file is validated once when the topology loads and read again, line by line, each time
the plan walks it, so a file of 50,000 hosts is never held in memory. Reading refuses what
is not a text file (a FIFO would block, a device or binary data would be read whole) and
names the line of the first bad host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sepcheck.hosts.parse import SAFE_BLOCK_LIMIT, HostSpecError, parse_host_spec
from sepcheck.hosts.specs import HostSpec, IPAddress, Target
from sepcheck.tomlsrc import file_kind

MAX_LINE = 4096
"""Longest line read from a hosts file: a host is at most 253 characters, and the limit
keeps a file without newlines (a wrong path) from being read whole into memory."""


class HostFileError(HostSpecError):
    """A bad line in a hosts file."""

    def __init__(self, message: str, line: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.line = line


class HostFileUnreadable(HostSpecError):
    """A hosts file that is not text to read: a FIFO, a device, binary data. The message
    is a predicate: "is not UTF-8 text"."""


@dataclass(frozen=True)
class FileSpec(HostSpec):
    """A hosts file, one spec per line (``#`` starts a comment). It is validated once at
    load time and read again, line by line, each time the plan walks it."""

    text: str
    path: Path
    total: int
    allow_large: bool = False
    limit: int = SAFE_BLOCK_LIMIT
    v6_total: int = 0
    """How many of the file's targets are IPv6 addresses (for IPv4-only protocols)."""

    @property
    def count(self) -> int:
        return self.total

    def specs(self) -> Iterator[HostSpec]:
        for _, spec in iter_host_file(self.path, allow_large=self.allow_large, limit=self.limit):
            yield spec

    def __iter__(self) -> Iterator[Target]:
        for spec in self.specs():
            yield from spec

    def contains(self, address: IPAddress) -> bool:
        return any(spec.contains(address) for spec in self.specs())


def iter_host_file(
    path: Path, *, allow_large: bool = False, limit: int = SAFE_BLOCK_LIMIT
) -> Iterator[tuple[int, HostSpec]]:
    """Yield (line number, spec) for each non-empty line; HostFileError names the line,
    HostFileUnreadable says why the file cannot be read as text. Other OSErrors (the file
    is missing, unreadable) pass through."""
    kind = file_kind(path.stat().st_mode)
    if kind is not None:
        # Refused before open(): opening a FIFO blocks until a writer comes.
        raise HostFileUnreadable(
            f"is {kind}, not a regular file", hint="name a text file with one host per line"
        )
    # utf-8-sig drops the byte-order mark Windows Notepad puts first, which would otherwise
    # be read as part of the first host.
    with path.open(encoding="utf-8-sig") as handle:
        number = 0
        while True:
            try:
                line = handle.readline(MAX_LINE + 1)
            except UnicodeDecodeError:
                raise HostFileUnreadable(
                    "is not UTF-8 text",
                    hint="a hosts file is text: one host, address, CIDR block or range per "
                    "line, saved as UTF-8",
                ) from None
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE and not line.endswith("\n"):
                raise HostFileError(f"line longer than {MAX_LINE:,} characters", number)
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            try:
                spec = parse_host_spec(content, allow_large=allow_large, limit=limit)
            except HostSpecError as exc:
                raise HostFileError(str(exc), number, exc.hint) from None
            yield number, spec
