"""Run a check: the plan through the engine into a collector, under the right event loop.

This is the seam between the CLI and the engine: it picks the event loop (uvloop where
installed), turns Ctrl-C and SIGTERM into a clean stop that keeps what was measured, and
returns the finished report head. It prints nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sepcheck import __version__
from sepcheck.engine import Backend, Engine, EngineSettings, raise_fd_limit
from sepcheck.payloads import PayloadSet
from sepcheck.plan import Plan
from sepcheck.report.collect import Collector
from sepcheck.report.model import Parameters, ReportHead, TopologyRef, VantageInfo
from sepcheck.results import ProbeResult, Stage


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed: plain asyncio mislabels open ports as filtered when
    saturated (lab.md); uvloop keeps up. On Windows, the selector loop: the backend needs
    add_reader/add_writer, which the default proactor loop lacks."""
    if sys.platform == "win32":
        return asyncio.SelectorEventLoop
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@dataclass
class CheckRun:
    head: ReportHead
    collector: Collector
    interrupted: bool


def family_name(family: int) -> str:
    if family == socket.AF_INET:
        return "ipv4"
    return "ipv6" if family == socket.AF_INET6 else "any"


def run_check(
    *,
    plan: Plan,
    backend: Backend,
    payloads: PayloadSet,
    settings: EngineSettings,
    stage: Stage,
    vantage: VantageInfo,
    topology: TopologyRef,
    catalogue: str,
    spool_dir: Path | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> CheckRun:
    collector = Collector(plan, stage, spool_dir)
    concurrency = raise_fd_limit(settings.concurrency)
    engine = Engine(backend, payloads, settings)

    def sink(result: ProbeResult) -> None:
        collector.add(result)
        if on_result is not None:
            on_result(result)

    interrupted = False

    async def main() -> None:
        nonlocal interrupted
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        # Windows, or not the main thread: no SIGTERM handler, Ctrl-C still works.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await engine.run(plan.probes(), sink, concurrency=concurrency)
        except asyncio.CancelledError:
            interrupted = True
            task.uncancel()

    started = time.monotonic()
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(main())
    except KeyboardInterrupt:
        interrupted = True
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
