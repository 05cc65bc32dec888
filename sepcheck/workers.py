"""Worker processes for large runs (Linux).

Why: a connect() costs tens of microseconds of kernel time in the calling process, on top
of the interpreter's own work, so one process saturates one core well below what the
network can take. Workers split the destinations by address (all probes to one host stay
in one worker, so its RTT estimate and per-host cap stay whole), each with its own engine,
share of the concurrency and rate, and spool file; the parent merges their counters and
streams their spools into one report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sepcheck.backends import BackendChoice
from sepcheck.drive import RunJob, drive
from sepcheck.entry import STOP_SIGNALS, defer_signals
from sepcheck.report.collect import Collector
from sepcheck.results import ProbeResult

if TYPE_CHECKING:  # imported by the runs of WORKER_THRESHOLD probes or more alone
    import multiprocessing.connection

WORKER_THRESHOLD = 2000
"""Plans smaller than this run in one process: forking costs more than it saves."""
WORKER_SHARE = 1000
"""Fewest probes per worker when --workers asks for more processes than that allows."""
_PROGRESS_EVERY = 256


def default_workers(total: int, backend: BackendChoice) -> int:
    """Two workers on machines with two cores or more, for plans worth splitting, when the
    backend may fork them (see backends.py)."""
    if total < WORKER_THRESHOLD or not backend.workers or not _can_fork():
        return 1
    return min(2, os.cpu_count() or 1)


def worker_count(asked: int | None, total: int, backend: BackendChoice) -> int:
    """The worker processes of a run: ``--workers`` when given, else ``default_workers``;
    never more than one per WORKER_SHARE probes (64 processes for 7 probes cost more than
    the run), and one where the backend or the platform cannot fork them."""
    if not backend.workers or not _can_fork():
        return 1
    if asked is None:
        return default_workers(total, backend)
    return max(1, min(asked, -(-total // WORKER_SHARE)))


def _can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform == "linux"


def shard_of_target(key: str, workers: int) -> int:
    """The worker of a target (its address, else its name)."""
    return zlib.crc32(key.encode()) % workers


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
    job: RunJob,
    index: int,
    count: int,
    conn: multiprocessing.connection.Connection,
    parent: int,
    progress: bool,
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
    collector = Collector(job.plan, job.stage, job.spool_dir, job.cert_warn_days)
    pending = 0

    def sink(result: ProbeResult) -> None:
        nonlocal pending
        collector.add(result)
        pending += 1
        if pending >= _PROGRESS_EVERY:
            conn.send(("progress", pending))
            pending = 0

    probes = job.plan.probes(keep=lambda key: shard_of_target(key, count) == index)
    # Nobody shows progress (--no-progress, no terminal): no message per 256 probes.
    add = sink if progress else collector.add

    interrupted = drive(job, probes, add, job.settings.concurrency, worker=True)
    conn.send(("done", collector.export(), interrupted, pending))
    conn.close()


def run_workers(
    job: RunJob,
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
            target=_worker,
            args=(share, index, count, child_end, os.getpid(), on_progress is not None),
            daemon=True,
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
