"""Run a check: the plan through the engine into a collector; the seam between the CLI and
the engine. It raises the open-file limit, runs the plan in one process (``drive.py``) or
over worker processes (``workers.py``), and returns the finished report head. It prints
nothing.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sepcheck import __version__
from sepcheck.appcheck.runner import AppPlan
from sepcheck.backends import BackendChoice
from sepcheck.drive import RunJob, drive
from sepcheck.engine import EngineSettings, raise_fd_limit
from sepcheck.plan import Plan
from sepcheck.report.collect import Collector
from sepcheck.report.model import Detected, Parameters, ReportHead, TopologyRef, VantageInfo
from sepcheck.results import ProbeResult, Stage
from sepcheck.workers import run_workers, worker_count


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
    apps: AppPlan | None = None,
    detected: Detected | None = None,
) -> CheckRun:
    job = RunJob(plan, backend, datagram, settings, stage, spool_dir, apps)
    collector = Collector(plan, stage, spool_dir, job.cert_warn_days)
    concurrency = raise_fd_limit(settings.concurrency)
    count = worker_count(workers, plan.total, backend)
    started = time.monotonic()

    def sink(result: ProbeResult) -> None:
        collector.add(result)
        if on_progress is not None:
            on_progress(1)

    try:
        if count <= 1:
            interrupted = drive(job, plan.probes(), sink, concurrency)
        else:
            interrupted = run_workers(job, count, collector, concurrency, on_progress)
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
        app_checks=apps is not None,
        cert_warn_days=job.cert_warn_days,
        responder=apps.responder.fingerprint if apps and apps.responder else None,
    )
    head = collector.finish(
        complete=not interrupted,
        duration=time.monotonic() - started,
        tool_version=__version__,
        vantage=vantage,
        topology=topology,
        parameters=parameters,
        detected=detected,
    )
    return CheckRun(head, collector, interrupted)
