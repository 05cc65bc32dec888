"""The process's entry point: stop signals first, then the command line.

Importing the command line takes a few hundred milliseconds (typer, rich, pydantic). A
SIGTERM or SIGHUP in that time used to end the process silently, and SIGHUP (a closed
terminal, a session ending) was not handled at all. From the very start, Ctrl-C, SIGTERM
and SIGHUP write one line and end the process at once: nothing has been measured or
written yet, and raising an exception from inside whatever library code happens to run
(pydantic building a schema, say) would only turn into a traceback. While a check runs,
its engine takes these signals over and keeps a partial report; while the reports are
written, a signal is noted and obeyed once they are complete.

Two costs of every run are also decided here (bench/startup.py measures them):

- Python's cyclic garbage collector runs dozens of times while the command line, pydantic
  and the rest are imported (some 20 ms), scanning objects that live as long as the
  process. It is off until the command starts (``started``), then the objects of the
  start-up are frozen out of its reach (``gc.freeze``) and it runs as usual.
- At exit the interpreter tears every module down object by object (some 50 ms after a
  check). ``main`` ends the process once its output is flushed and the exit handlers have
  run (``_exit``): what sepcheck writes is complete by then (each file is closed by the
  code that writes it), and the memory goes back to the system as a whole.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
from types import FrameType

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (5 ms of --version)
if TYPE_CHECKING:
    from typing import NoReturn

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


def started() -> None:
    """The command starts: what was loaded so far lives as long as the process, so the
    garbage collector leaves it alone (frozen) and runs again for what comes next. A no-op
    where the collector already runs (tests calling the commands in-process)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _exit(done: SystemExit) -> NoReturn:
    """End the process as ``done`` would, without tearing the interpreter down. Falls back
    to the usual exit when flushing fails (a closed pipe: Python says so, as before), when
    another thread still runs, or for an exit code that is not a number."""
    import threading  # loaded long before (typer, asyncio): only looked up here

    code = 0 if done.code is None else done.code
    if not isinstance(code, int) or threading.active_count() > 1:
        raise done
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        raise done from None
    atexit._run_exitfuncs()
    os._exit(code)


def main() -> None:
    stop_now_on_signals()
    if sys.argv[1:] == ["--version"]:
        # The one answer that needs nothing of the command line: without typer, rich and
        # the commands, it comes in the time Python takes to start (bench/startup.py).
        from sepcheck import __version__

        sys.stdout.write(f"sepcheck {__version__}\n")
        return
    gc.disable()  # until the command starts (``started``)
    from sepcheck.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as done:
        _exit(done)
