"""Running a `sepcheck listen` job: bind its ports, say what it listens on, print each
probe it sees, and write its report when it stops (after --for, on Ctrl-C or SIGTERM)."""

from __future__ import annotations

import contextlib
import queue
import socket
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from sepcheck.cli.app import EXIT_OK, stderr_console
from sepcheck.cli.listen import ListenJob, event_line, span, start_lines
from sepcheck.errors import UsageError

if TYPE_CHECKING:
    from sepcheck.listen.report import ListenReport
    from sepcheck.listen.sockets import Bound


def _nothing_bound(bound: Bound) -> UsageError:
    whys = "; ".join(f"{s.protocol.value}/{s.port}: {s.why}" for s in bound.skipped)
    privileged = len(bound.privileged) == len(bound.skipped)
    return UsageError(
        f"nothing to listen on ({whys})",
        hint="run as root, or give the CAP_NET_BIND_SERVICE capability"
        if privileged
        else "the real services answer there already: run `check` against them",
    )


def summary_line(report: ListenReport, job: ListenJob) -> str:
    how = "ran for" if report.complete else f"stopped by {report.stopped_by} after"
    counts = report.counts
    answered = sum(1 for e in report.events if e.answered and e.what != "query")
    seen = ", ".join(
        [
            f"{counts.get('probe', 0) + counts.get('redirected', 0)} probes "
            f"({answered} answered, {counts.get('redirected', 0)} redirected)",
            f"{counts.get('query', 0)} queries",
            f"{counts.get('rate_limited', 0)} over the rate limit",
            f"{sum(i.count for i in report.ignored)} without the token ignored",
        ]
    )
    where = f"report: {job.output}" if job.output is not None else "no report (-o FILE.json)"
    return f"sepcheck listen: {how} {span(_elapsed(report))}: {seen}; {where}"


def _elapsed(report: ListenReport) -> float:
    from datetime import datetime

    started = datetime.fromisoformat(report.started.replace("Z", "+00:00"))
    finished = datetime.fromisoformat(report.finished.replace("Z", "+00:00"))
    return max(0.0, (finished - started).total_seconds())


def run_listen(job: ListenJob) -> int:
    from sepcheck.listen.events import EventLog
    from sepcheck.listen.limits import Limits
    from sepcheck.listen.report import build_report, write_report
    from sepcheck.listen.session import serve
    from sepcheck.listen.sockets import bind_ports
    from sepcheck.net.beacon import fingerprint

    err = stderr_console()

    def say(line: str) -> None:
        err.print(line, markup=False)

    limits = Limits()
    bound = bind_ports(job.ports, job.addresses)
    if not bound.listening:
        raise _nothing_bound(bound)
    for line in start_lines(job, bound):
        say(line)
    printer = None if job.quiet else LinePrinter()
    log = EventLog(
        limits.events, None if printer is None else lambda event: printer.put(event_line(event))
    )
    try:
        end = serve(job.key, bound, log, job.duration, limits)
    finally:
        if printer is not None:
            printer.close()
    report = build_report(
        hostname=socket.gethostname(),
        fingerprint=fingerprint(job.key),
        duration=job.duration,
        bound=bound,
        log=log,
        end=end,
    )
    if job.output is not None:
        try:
            write_report(job.output, report)
        except OSError as exc:
            raise UsageError(
                f"--output {job.output}: cannot write the report: {exc.strerror or exc}",
                hint="choose a folder this user can write to (and with free space)",
            ) from None
    line = summary_line(report, job)
    if printer is not None and printer.dropped:
        line += f"; {printer.dropped:,} event lines not printed (stderr did not keep up)"
    with contextlib.suppress(OSError):  # a reader that went away: the report is written
        say(line)
    return EXIT_OK


class LinePrinter:
    """Prints event lines from a thread of its own, through a bounded queue: a stderr that
    stalls (a pipe nobody reads, a terminal paused with Ctrl-S) or closes (its reader
    exited) never blocks or stops the responder; lines that do not fit are counted."""

    QUEUE = 1000

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.lines: queue.Queue[str | None] = queue.Queue(self.QUEUE)
        self.dropped = 0
        self.broken = False
        self.thread = threading.Thread(target=self._run, name="sepcheck-listen-lines", daemon=True)
        self.thread.start()

    def put(self, line: str) -> None:
        if self.broken:
            return
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while (line := self.lines.get()) is not None:
            if self.broken:
                continue
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                self.broken = True

    def close(self, wait: float = 1.0) -> None:
        """Stop after what is queued, waiting at most ``wait`` seconds (a stalled stderr
        keeps the rest: the thread is a daemon)."""
        with contextlib.suppress(queue.Full):
            self.lines.put(None, timeout=wait)
        self.thread.join(wait)
