"""Running a `sepcheck listen` job: bind its ports, say what it listens on, print each
probe it sees, and write its report when it stops (after --for, on Ctrl-C or SIGTERM)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

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
    log = EventLog(limits.events, None if job.quiet else lambda event: say(event_line(event)))
    end = serve(job.key, bound, log, job.duration, limits)
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
    say(summary_line(report, job))
    return EXIT_OK
