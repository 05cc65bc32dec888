"""The process's entry point: signal handling first, then the command line.

Importing the command line takes a few hundred milliseconds (typer, rich, pydantic). A
SIGTERM or SIGHUP in that time used to end the process silently, with no message and no
report; and SIGHUP (a closed terminal, a session ending) was not handled at all. Here both
are turned into an ``Interrupted`` exception from the very start; once a check runs, its
engine takes over these signals and keeps a partial report.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """A stop signal before the run could keep anything. A BaseException (not an
    Exception, nor click's KeyboardInterrupt handling) so that it reaches main()."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signal = signal.Signals(signum).name


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals handled like Ctrl-C (SIGHUP does not exist on Windows)."""


def main() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    try:
        from sepcheck.cli import main as cli_main

        cli_main()
    except Interrupted as stop:
        sys.stderr.write(f"sepcheck: stopped by {stop.signal}; nothing was written\n")
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        sys.stderr.write("sepcheck: stopped by Ctrl-C; nothing was written\n")
        sys.exit(EXIT_INTERRUPTED)


class DeferredStop:
    """While reports are written, a stop signal is noted, not obeyed at once: the files
    are finished first (then the process exits as interrupted)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.saved: dict[int, object] = {}

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum).name

    def __enter__(self) -> DeferredStop:
        for signum in (signal.SIGINT, *STOP_SIGNALS):
            self.saved[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
