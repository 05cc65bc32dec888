"""Errors that mean "the run cannot go on because of what the user gave us".

A probe that fails is data (a result with a state), never an exception. These classes are
for bad input: a broken catalogue, a malformed topology, an impossible option. Each carries
where the problem is (file, line or key path), what is wrong, and how to fix it, so that
the CLI can print one line plus a hint and exit with code 2 instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where in the user's input a problem sits."""

    path: Path | None = None
    """The file, when the input came from one."""
    line: int | None = None
    """1-based line number, when it could be found."""
    key: str | None = None
    """Dotted key path inside the file (``roles.client.hosts[2]``), when it applies."""

    def __str__(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
            parts.append(where)
        if self.key:
            parts.append(self.key)
        return ": ".join(parts)


class SepcheckError(Exception):
    """Root of the errors the CLI turns into a one-line message and exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        where = str(self.location) if self.location else ""
        return f"{where}: {self.message}" if where else self.message


class CatalogueError(SepcheckError):
    """The port catalogue (ours or the user's copy) is unreadable or invalid."""


class TopologyError(SepcheckError):
    """The topology file, or a hosts file it names, is unreadable or invalid."""


class VersionError(SepcheckError):
    """A SEP version or an applicability text could not be understood."""


class UsageError(SepcheckError):
    """Command-line options that contradict each other or the topology."""
