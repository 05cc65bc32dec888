"""Run a checked job: probe (with a progress bar on a terminal), write the reports, say
what happened, and give the exit code."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sepcheck.cli.app import (
    StdoutProblem,
    stderr_console,
    stdout_console,
    stdout_error,
    write_stdout,
)
from sepcheck.cli.check_exit import Outcome, exit_code
from sepcheck.cli.check_options import FailOn
from sepcheck.entry import noted_signal
from sepcheck.localhost import local_addresses
from sepcheck.model import Protocol
from sepcheck.render.formats import Extension, FileFormat, ReportFormat, file_chunks, file_format
from sepcheck.render.matrix import matrix_table, summary_line
from sepcheck.report.model import ReportHead, TopologyRef, VantageInfo
from sepcheck.run import CheckRun, run_check

if TYPE_CHECKING:
    # What only some runs need is imported where they need it: the progress bar (on a
    # terminal), the reports folder's lock (--output-dir), report files (--output, a
    # format other than the table) and the comparison (--baseline).
    from sepcheck.cli.check_job import CheckJob
    from sepcheck.diff import Diff
    from sepcheck.topology import Topology


def run_job(job: CheckJob) -> int:
    """Probe, report, and return the exit code."""
    # The reports folder's lock, taken before the first probe and held to the last write:
    # an overlapping run (a timer firing while the last audit still runs) waits or gives
    # up instead of writing into the same archive. (--output files need none: each is
    # replaced atomically, and no lock file is left beside a user's own file.)
    with contextlib.ExitStack() as locks:
        if job.archive is not None:
            from sepcheck.archive import folder_lock

            locks.enter_context(folder_lock(job.archive.archive.folder, job.archive.lock_wait))
        run = _probe(job)
        return _report(job, run)


def _probe(job: CheckJob) -> CheckRun:
    err = stderr_console()
    total = job.plan.total
    if not (job.progress and not job.quiet and err.is_terminal and total > 1):
        return _run(job, None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task_id = bar.add_task("probes", total=total)
    with bar:
        return _run(job, lambda n: bar.advance(task_id, n))


def _run(job: CheckJob, on_progress: Callable[[int], None] | None) -> CheckRun:
    return run_check(
        plan=job.plan,
        backend=job.backend,
        datagram=_datagrams(job),
        settings=job.settings,
        stage=job.stage,
        vantage=_vantage_info(job),
        topology=_topology_ref(job),
        catalogue=job.catalogue_label,
        # Spools live in the temporary folder, never beside the reports: a killed run
        # leaves nothing half-written where reports are collected.
        spool_dir=None,
        workers=job.workers,
        on_progress=on_progress,
        mode="raw" if job.raw else "connect",
        apps=job.apps,
        detected=job.detected,
    )


def _datagrams(job: CheckJob) -> Callable[[int], bytes]:
    """What UDP probes carry: the payloads of probes/udp.toml (shipped with sepcheck), read
    for plans with UDP flows only; the most common run, a client checking its manager,
    probes TCP alone."""
    if all(flow.entry.protocol is not Protocol.UDP for flow in job.plan.flows):
        return _no_datagram
    from sepcheck.payloads import load_payloads

    return load_payloads().datagram


def _no_datagram(port: int) -> bytes:
    raise AssertionError(f"a UDP probe to port {port} in a plan without UDP flows")


def _vantage_info(job: CheckJob) -> VantageInfo:
    return VantageInfo(
        hostname=socket.gethostname(),
        role=[r.value for r in job.vantage.roles],
        inferred=job.vantage.inferred,
        local_addresses=[str(a) for a in local_addresses()],
    )


def _given_version(topology: Topology) -> str | None:
    """The version as the site gives it: 'auto' (the version read is in ``detected``)."""
    if topology.version_auto:
        return "auto"
    return str(topology.sep_version) if topology.sep_version else None


def _topology_ref(job: CheckJob) -> TopologyRef:
    topology = job.topology
    return TopologyRef(
        path=str(job.topology_path) if job.topology_path else None,
        sha256=topology.digest,
        name=topology.name,
        sep_version=_given_version(topology),
    )


@dataclass
class _Written:
    paths: list[Path] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stdout: StdoutProblem | None = None
    """stdout did not take the whole output (see ``write_stdout``)."""


def _targets(job: CheckJob) -> Iterator[tuple[Path, FileFormat]]:
    """Every report file of the run: --output's, then --output-dir's (named now, at the
    end of the run, after its time)."""
    for output in job.outputs:
        yield output.path, output.format
    if job.archive is not None:
        named = job.archive.archive.new_names([e.value for e in job.archive.extensions])
        for extension, path in named.items():
            yield path, file_format(Extension(extension))


def _write_files(job: CheckJob, head: ReportHead, spools: list[Path]) -> _Written:
    written = _Written()
    for path, fmt in _targets(job):
        # One file that cannot be written (a full disk) must not cost the others, and the
        # run must say exactly which one failed.
        try:
            _write_one(path, fmt, head, spools)
            written.paths.append(path)
        except OSError as exc:
            written.failures.append(f"report {path} not written: {exc.strerror or exc}")
    if job.archive is not None and job.archive.keep is not None:
        job.archive.archive.prune(job.archive.keep, [e.value for e in job.archive.extensions])
    return written


def _write_one(path: Path, fmt: FileFormat, head: ReportHead, spools: list[Path]) -> None:
    from sepcheck.report.writer import write_atomic  # only runs that write files load it

    write_atomic(path, file_chunks(fmt, head, spools))


def _print_stdout(
    fmt: ReportFormat, head: ReportHead, spools: list[Path], changes: Diff | None
) -> None:
    match fmt:
        case ReportFormat.TABLE:
            if head.summary.planned == 0:
                return  # an empty table says less than the summary line (stderr) does
            console = stdout_console()
            console.print(matrix_table(head, width=console.width))
            if changes is not None:
                from sepcheck.render.diff import diff_table

                console.print(diff_table(changes))
        case _:
            from sepcheck.report.writer import write_stream

            write_stream(file_chunks(fmt, head, spools), sys.stdout)


def _report(job: CheckJob, run: CheckRun) -> int:
    head, spools = run.head, run.collector.spools
    changes = None
    try:
        written = _write_files(job, head, spools)
        if job.baseline is not None:
            from sepcheck.diff import diff_against
            from sepcheck.report.rows import SpooledRows

            # Streamed: the run's rows are walked once from the spools, never held whole.
            rows = SpooledRows.of(spools)
            changes = diff_against(job.baseline.index, rows, after_complete=head.complete)
        if not job.quiet:
            written.stdout = write_stdout(lambda: _print_stdout(job.stdout, head, spools, changes))
    finally:
        run.collector.close()
    _tell(job, head, written, changes)
    noted = None if written.failures else noted_signal()
    if noted is not None:
        stderr_console().print(
            f"sepcheck: {noted} while the reports were written: they were finished first",
            markup=False,
        )
    # A reader that closed the pipe early (`| head`) is not the run's failure: its exit
    # code stays the run's own. A full stdout lost part of the output: exit 2.
    lost = bool(written.failures) or (written.stdout is not None and not written.stdout.closed)
    outcome = Outcome(head, run.interrupted, lost, noted, changes)
    return exit_code(outcome, job.fail_on)


def responder_silent(job: CheckJob, head: ReportHead) -> str | None:
    """With --responder-token, a run where no responder confirmed anything it was asked
    about: most often a wrong token or no `sepcheck listen` running, which every result's
    "not confirmed" would otherwise leave unsaid."""
    plan = job.apps.responder if job.apps is not None else None
    if plan is None:
        return None
    asked = sum(sum(f.app.values()) for f in head.summary.flow_results)
    confirmed = sum(f.app.get("ok", 0) + f.app.get("wrong", 0) for f in head.summary.flow_results)
    if not asked or confirmed:
        return None
    return (
        f"sepcheck: no sepcheck responder answered any of {asked} probes: is `sepcheck listen` "
        f"running there, with the token of fingerprint {plan.fingerprint} (its report names it)?"
    )


def _tell(job: CheckJob, head: ReportHead, written: _Written, changes: Diff | None) -> None:
    """The lines on stderr: the summary, where the reports went, what changed since the
    baseline, and which reports could not be written."""
    err = stderr_console()
    err.print(summary_line(head, job.fail_on is FailOn.WARNING), markup=False)
    silent = responder_silent(job, head)
    if silent is not None:
        err.print(silent, markup=False)
    if job.archive is not None and written.paths:
        err.print(f"reports: {', '.join(str(p) for p in written.paths)}", markup=False)
    if changes is not None and job.baseline is not None:
        from sepcheck.render.diff import diff_summary

        err.print(f"since {job.baseline.path}: {diff_summary(changes)}", markup=False)
    for failure in written.failures:
        from rich.markup import escape

        err.print(f"[bold red]sepcheck: error:[/] {escape(failure)}", highlight=False)
    if written.failures:
        err.print("  hint: free some space there, or write the reports elsewhere", markup=False)
    if written.stdout is not None and not written.stdout.closed:
        error = stdout_error(written.stdout)
        err.print(f"[bold red]sepcheck: error:[/] {error.message}", highlight=False)
        err.print(f"  hint: {error.hint}", markup=False)
