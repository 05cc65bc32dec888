"""The process's entry point: stop signals first, then the command line.

Importing the command line takes a few hundred milliseconds (typer, rich, pydantic). A
SIGTERM or SIGHUP in that time used to end the process silently, and SIGHUP (a closed
terminal, a session ending) was not handled at all. From the very start, Ctrl-C, SIGTERM
and SIGHUP write one line and end the process at once: nothing has been measured or
written yet, and raising an exception from inside whatever library code happens to run
(pydantic building a schema, say) would only turn into a traceback. While a check runs,
its engine takes these signals over and keeps a partial report; while the reports are
written, a signal is noted and obeyed once they are complete.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 130

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals handled like Ctrl-C (SIGHUP does not exist on Windows)."""

_noted: list[str] = []


def _name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def _stop_now(signum: int, _frame: FrameType | None) -> None:
    os.write(2, f"sepcheck: stopped by {_name(signum)}; nothing was written\n".encode())
    os._exit(EXIT_INTERRUPTED)


def _note(signum: int, _frame: FrameType | None) -> None:
    _noted.append(_name(signum))


def stop_now_on_signals() -> None:
    """Before and outside a run: a stop signal ends the process with one line."""
    for signum in (signal.SIGINT, *STOP_SIGNALS):
        signal.signal(signum, _stop_now)


def defer_signals() -> None:
    """After a run: a stop signal is noted (see ``noted_signal``), not obeyed, so that the
    reports being written are finished first."""
    for signum in (signal.SIGINT, *STOP_SIGNALS):
        signal.signal(signum, _note)


def noted_signal() -> str | None:
    """The first stop signal that came while signals were deferred, if any."""
    return _noted[0] if _noted else None


def main() -> None:
    stop_now_on_signals()
    if sys.argv[1:] == ["--version"]:
        # The one answer that needs nothing of the command line: without typer, rich and
        # the commands, it comes in the time Python takes to start (bench/startup.py).
        from sepcheck import __version__

        sys.stdout.write(f"sepcheck {__version__}\n")
        return
    from sepcheck.cli import main as cli_main

    cli_main()
