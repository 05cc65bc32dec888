"""Run a check: the plan through the engine into a collector, under the right event loop.

This is the seam between the CLI and the engine: it picks the event loop (uvloop where
installed), spreads large runs over worker processes, turns Ctrl-C and SIGTERM into a clean
stop that keeps what was measured, and returns the finished report head. It prints nothing.

Why worker processes: a connect() costs tens of microseconds of kernel time in the calling
process, on top of the interpreter's own work, so one process saturates one core well
below what the network can take. Workers split the destinations by address (all probes to
one host stay in one worker, so its RTT estimate and per-host cap stay whole), each with
its own engine, share of the concurrency and rate, and spool file; the parent merges their
counters and streams their spools into one report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sepcheck import __version__
from sepcheck.backends import BackendChoice
from sepcheck.engine import Engine, EngineSettings, raise_fd_limit
from sepcheck.entry import STOP_SIGNALS, defer_signals
from sepcheck.net.outcome import Outcome
from sepcheck.plan import Plan, Probe
from sepcheck.report.collect import Collector
from sepcheck.report.model import Parameters, ReportHead, TopologyRef, VantageInfo
from sepcheck.results import ProbeResult, Stage, probe_result, unresolved_result

if TYPE_CHECKING:  # imported by the runs of WORKER_THRESHOLD probes or more alone
    import multiprocessing.connection

WORKER_THRESHOLD = 2000
"""Plans smaller than this run in one process: forking costs more than it saves."""
_PROGRESS_EVERY = 256


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed: plain asyncio mislabels open ports as filtered when
    saturated (lab.md); uvloop keeps up. On Windows, the selector loop: the backend needs
    reader/writer callbacks, which the default proactor loop lacks."""
    if sys.platform == "win32":
        return asyncio.SelectorEventLoop
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def default_workers(total: int, backend: BackendChoice) -> int:
    """Two workers on machines with two cores or more, for plans worth splitting, when the
    backend may fork them (see backends.py)."""
    if total < WORKER_THRESHOLD or not backend.workers or not _can_fork():
        return 1
    return min(2, os.cpu_count() or 1)


def _can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform == "linux"


class ResultSink:
    """The engine's sink for a check: each probe's end becomes a ProbeResult in the
    report's words, handed to ``add``."""

    __slots__ = ("add",)

    def __init__(self, add: Callable[[ProbeResult], None]) -> None:
        self.add = add

    def settled(self, probe: Probe, address: str, outcome: Outcome, tries: int) -> None:
        self.add(probe_result(probe, address, outcome, tries))

    def unresolved(self, probe: Probe, why: str) -> None:
        self.add(unresolved_result(probe, why))


@dataclass(frozen=True)
class _Job:
    """What every worker needs to run its share of the plan."""

    plan: Plan
    backend: BackendChoice
    datagram: Callable[[int], bytes]
    """What a UDP try to a port carries (``PayloadSet.datagram``)."""
    settings: EngineSettings
    stage: Stage
    spool_dir: Path | None


@dataclass
class CheckRun:
    head: ReportHead
    collector: Collector
    interrupted: bool


def family_name(family: int) -> str:
    if family == socket.AF_INET:
        return "ipv4"
    return "ipv6" if family == socket.AF_INET6 else "any"


def shard_of(probe: Probe, workers: int) -> int:
    key = probe.address or probe.host
    return zlib.crc32(key.encode()) % workers


def _drive(
    job: _Job,
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
        try:
            await engine.run(probes, ResultSink(add), concurrency=limit)
        except asyncio.CancelledError:
            interrupted = True
            task.uncancel()
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


def run_check(
    *,
    plan: Plan,
    backend: BackendChoice,
    datagram: Callable[[int], bytes],
    settings: EngineSettings,
    stage: Stage,
    vantage: VantageInfo,
    topology: TopologyRef,
    catalogue: str,
    spool_dir: Path | None = None,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    mode: str = "connect",
) -> CheckRun:
    collector = Collector(plan, stage, spool_dir)
    concurrency = raise_fd_limit(settings.concurrency)
    count = workers if workers is not None else default_workers(plan.total, backend)
    if not backend.workers:
        count = 1
    job = _Job(plan, backend, datagram, settings, stage, spool_dir)
    started = time.monotonic()

    def sink(result: ProbeResult) -> None:
        collector.add(result)
        if on_progress is not None:
            on_progress(1)

    try:
        if count <= 1:
            interrupted = _drive(job, plan.probes(), sink, concurrency)
        else:
            interrupted = _run_workers(job, count, collector, concurrency, on_progress)
    except BaseException:
        collector.close()  # a run that cannot go on (a full TMPDIR) leaves no spool behind
        raise
    t = settings.timing
    parameters = Parameters(
        stage=stage.value,
        concurrency=concurrency,
        per_host=settings.per_host,
        rate=settings.rate,
        timeout=t.max_timeout,
        initial_timeout=t.initial_timeout,
        min_timeout=t.min_timeout,
        retries=t.retries,
        max_retries=t.max_retries,
        family=family_name(settings.family),
        catalogue=catalogue,
        mode=mode,
        backend=backend.name,
    )
    head = collector.finish(
        complete=not interrupted,
        duration=time.monotonic() - started,
        tool_version=__version__,
        vantage=vantage,
        topology=topology,
        parameters=parameters,
    )
    return CheckRun(head, collector, interrupted)


def _die_with(parent: int) -> None:
    """End this worker if the parent process dies (killed with SIGKILL, say): a worker
    left running would go on probing and hold the parent's report-folder lock, which it
    inherited. Linux only (prctl PR_SET_PDEATHSIG)."""
    if sys.platform != "linux":
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _worker(
    job: _Job,
    index: int,
    count: int,
    conn: multiprocessing.connection.Connection,
    parent: int,
) -> None:
    # The parent decides when to stop (it sends SIGTERM): a terminal's Ctrl-C reaches the
    # whole process group, and a second one must not cut a spool line in half here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A stop before this worker's loop runs ends it quietly (it has measured nothing yet;
    # the parent sees it gone and reports the run as interrupted), not with the parent's
    # start-up handler, which would print a traceback from a child process.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    _die_with(parent)
    collector = Collector(job.plan, job.stage, job.spool_dir)
    pending = 0

    def sink(result: ProbeResult) -> None:
        nonlocal pending
        collector.add(result)
        pending += 1
        if pending >= _PROGRESS_EVERY:
            conn.send(("progress", pending))
            pending = 0

    probes = (p for p in job.plan.probes() if shard_of(p, count) == index)
    interrupted = _drive(job, probes, sink, job.settings.concurrency, worker=True)
    conn.send(("done", collector.export(), interrupted, pending))
    conn.close()


def _run_workers(
    job: _Job,
    count: int,
    collector: Collector,
    concurrency: int,
    on_progress: Callable[[int], None] | None,
) -> bool:
    if sys.platform == "win32":  # default_workers() never asks for them there
        raise RuntimeError("worker processes need fork(), which Windows lacks")
    import multiprocessing.connection

    settings = job.settings
    share = replace(
        job,
        settings=replace(
            settings,
            concurrency=max(1, concurrency // count),
            initial_window=max(1, settings.initial_window // count),
            rate=settings.rate / count,
        ),
    )
    context = multiprocessing.get_context("fork")
    processes: list[Any] = []
    connections: list[multiprocessing.connection.Connection] = []
    for index in range(count):
        parent_end, child_end = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker, args=(share, index, count, child_end, os.getpid()), daemon=True
        )
        process.start()
        child_end.close()
        processes.append(process)
        connections.append(parent_end)

    interrupted = False

    def stop_workers(*_: object) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    # Ctrl-C and SIGTERM only set a flag and tell the workers to stop: an exception raised
    # at a random point here could lose a worker's results.
    for signum in (signal.SIGINT, *STOP_SIGNALS):
        signal.signal(signum, stop_workers)
    try:
        waiting = list(connections)
        while waiting:
            ready = multiprocessing.connection.wait(waiting, timeout=0.2)
            for ready_conn in ready:
                conn = connections[connections.index(ready_conn)]  # type: ignore[arg-type,unused-ignore]
                try:
                    message: tuple[Any, ...] = conn.recv()
                except (EOFError, OSError):
                    waiting.remove(conn)  # a worker died without reporting
                    interrupted = True
                    continue
                if message[0] == "progress":
                    if on_progress is not None:
                        on_progress(int(message[1]))
                    continue
                _, shard, worker_interrupted, pending = message
                collector.absorb(shard)
                interrupted = interrupted or bool(worker_interrupted)
                if on_progress is not None and pending:
                    on_progress(int(pending))
                waiting.remove(conn)
    finally:
        defer_signals()  # the reports come next: they are finished first
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in connections:
            conn.close()
    return interrupted
