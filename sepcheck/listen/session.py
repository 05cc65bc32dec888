"""One run of the responder: its sockets served until ``--for`` ends or a stop signal
(Ctrl-C, SIGTERM, SIGHUP) comes, whichever is first. After it, stop signals are deferred
(``entry.defer_signals``) so that the report is written whole before the process ends."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass

from sepcheck.entry import STOP_SIGNALS, defer_signals
from sepcheck.listen.events import EventLog
from sepcheck.listen.limits import Limits
from sepcheck.listen.server import Responder
from sepcheck.listen.sockets import Bound


@dataclass(frozen=True)
class SessionEnd:
    started: float
    finished: float
    """Wall-clock seconds (epoch)."""
    stopped_by: str | None
    """The signal that ended it early ('Ctrl-C', 'SIGTERM', 'SIGHUP'); None when it ran
    for its whole duration."""

    @property
    def complete(self) -> bool:
        return self.stopped_by is None


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def serve(
    key: bytes, bound: Bound, log: EventLog, duration: float, limits: Limits | None = None
) -> SessionEnd:
    """Serve ``bound`` for ``duration`` seconds or until a stop signal."""
    stopped: list[str] = []
    started = time.time()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(name: str) -> None:
            stopped.append(name)
            stop.set()

        installed: list[int] = []
        for signum in (signal.SIGINT, *STOP_SIGNALS):
            # Windows, or not the main thread: no handler; Ctrl-C still raises below.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, on_signal, signal_name(signum))
                installed.append(signum)
        try:
            async with Responder(key, bound, log, limits):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), duration)
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            defer_signals()  # the report comes next: it is finished first

    try:
        with asyncio.Runner() as runner:
            runner.run(main())
    except KeyboardInterrupt:
        stopped.append(signal_name(signal.SIGINT))
    finally:
        bound.close()
    return SessionEnd(started, time.time(), stopped[0] if stopped else None)
