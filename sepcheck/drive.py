"""One process's share of a check: the engine under the right event loop, each probe's
end turned into a result for the collector, and Ctrl-C or SIGTERM turned into a clean stop
that keeps what was measured. Used by run.py in one process, and by each worker
(workers.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sepcheck.appcheck.runner import AppPlan, AppRunner
from sepcheck.backends import BackendChoice
from sepcheck.engine import Engine, EngineSettings
from sepcheck.entry import STOP_SIGNALS, defer_signals
from sepcheck.net.outcome import Outcome
from sepcheck.plan import Plan, Probe
from sepcheck.results import ProbeResult, Stage, probe_result, unresolved_result
from sepcheck.verdict import CERT_WARN_DAYS


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed: plain asyncio mislabels open ports as filtered when
    saturated (measured in the lab of tests/lab: the loop falls behind its own timers);
    uvloop keeps up. On Windows, the selector loop: the backend needs reader/writer
    callbacks, which the default proactor loop lacks."""
    if sys.platform == "win32":
        return asyncio.SelectorEventLoop
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class ResultSink:
    """The engine's sink for a check: each probe's end becomes a ProbeResult in the
    report's words, handed to ``add``; an open port with an application check is handed
    on by ``apps`` once its check has read what is behind it."""

    __slots__ = ("add", "apps")

    def __init__(self, add: Callable[[ProbeResult], None], apps: AppRunner | None = None) -> None:
        self.add = add
        self.apps = apps

    def settled(self, probe: Probe, address: str, outcome: Outcome, tries: int) -> None:
        result = probe_result(probe, address, outcome, tries)
        if self.apps is None or not self.apps.take(result):
            self.add(result)

    def unresolved(self, probe: Probe, why: str) -> None:
        self.add(unresolved_result(probe, why))


@dataclass(frozen=True)
class RunJob:
    """What each process of a run needs to run its share of the plan."""

    plan: Plan
    backend: BackendChoice
    datagram: Callable[[int], bytes]
    """What a UDP try to a port carries (``PayloadSet.datagram``)."""
    settings: EngineSettings
    stage: Stage
    spool_dir: Path | None
    apps: AppPlan | None = None
    """The application checks after open TCP results (None: --no-app)."""

    @property
    def cert_warn_days(self) -> float:
        return self.apps.cert_warn_days if self.apps is not None else CERT_WARN_DAYS


def drive(
    job: RunJob,
    probes: Iterator[Probe],
    add: Callable[[ProbeResult], None],
    limit: int,
    worker: bool = False,
) -> bool:
    """Run the engine to the end or to an interrupt; True when interrupted."""
    interrupted = False

    async def main() -> None:
        nonlocal interrupted
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        # Windows, or not the main thread: no SIGTERM handler, Ctrl-C still works.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, task.cancel)
        backend = job.backend.factory()
        engine = Engine(backend, job.datagram, job.settings)
        apps = AppRunner(job.apps, add) if job.apps is not None else None
        try:
            await engine.run(probes, ResultSink(add, apps), concurrency=limit)
            if apps is not None:
                await apps.drain()
        except asyncio.CancelledError:
            interrupted = True
            task.uncancel()
            if apps is not None:
                # Every open port measured reaches the report, its check marked unfinished.
                await apps.abandon()
        finally:
            backend.close()

    if not worker:
        # Ctrl-C as Python's own KeyboardInterrupt while the loop runs: asyncio's runner
        # then cancels the run cleanly (a worker ignores it: its parent stops it).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(main())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if not worker:
            defer_signals()  # the reports come next: they are finished first
    return interrupted
