"""`sepcheck check`: probe every flow this host should originate; the matrix, the report
files and the exit code."""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sepcheck.archive import Archive, folder_lock, host_tag
from sepcheck.backends import BackendChoice, choose
from sepcheck.catalogue import Catalogue, load_catalogue
from sepcheck.cli.app import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    CatalogueOption,
    ProbeMode,
    app,
    friendly_errors,
    raw_allowed,
    require_raw,
    resolve_vantage,
    stderr_console,
    stdout_console,
)
from sepcheck.cli.validate import (
    RATE_RANGE,
    TIMEOUT_RANGE,
    bounded,
    check_output,
    split_env_outputs,
    writable_folder,
)
from sepcheck.diff import diff_reports
from sepcheck.engine import EngineSettings
from sepcheck.entry import noted_signal
from sepcheck.errors import SepcheckError, UsageError
from sepcheck.localhost import local_addresses
from sepcheck.model import ROLE_NAMES, Role
from sepcheck.payloads import load_payloads
from sepcheck.plan import Plan, build_plan
from sepcheck.render.diff import diff_summary, diff_table
from sepcheck.render.formats import junit_chunks, markdown_report, prometheus_chunks
from sepcheck.render.html import html_chunks
from sepcheck.render.matrix import matrix_table, summary_line
from sepcheck.report.load import load_report
from sepcheck.report.model import Report, ReportHead, TopologyRef, VantageInfo
from sepcheck.report.writer import report_chunks, write_atomic, write_stream
from sepcheck.results import Stage, Verdict
from sepcheck.run import run_check
from sepcheck.timing import SMALL_RUN, TimingSettings
from sepcheck.topology import Topology, load_topology, topology_from_hosts


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    JUNIT = "junit"
    PROMETHEUS = "prometheus"
    MARKDOWN = "markdown"
    HTML = "html"


# --output picks the format from the file's extension.
OUTPUT_FORMATS = {
    ".json": ReportFormat.JSON,
    ".xml": ReportFormat.JUNIT,
    ".prom": ReportFormat.PROMETHEUS,
    ".md": ReportFormat.MARKDOWN,
    ".html": ReportFormat.HTML,
}


def _report_chunks(fmt: ReportFormat, head: ReportHead, spools: list[Path]) -> Iterable[str]:
    if fmt is ReportFormat.JUNIT:
        return junit_chunks(head, spools)
    if fmt is ReportFormat.PROMETHEUS:
        return prometheus_chunks(head, spools)
    if fmt is ReportFormat.MARKDOWN:
        return [markdown_report(head)]
    if fmt is ReportFormat.HTML:
        return html_chunks(head, spools)
    return report_chunks(head, spools)


EXIT_INTERRUPTED = 130
PREVIOUS = "previous"
"""--baseline previous: this host's newest report in --output-dir."""


class DirFormat(StrEnum):
    """Formats for --output-dir, named by their file extension."""

    JSON = "json"
    XML = "xml"
    PROM = "prom"
    MD = "md"
    HTML = "html"


class FailOn(StrEnum):
    FAILURE = "failure"
    WARNING = "warning"
    REGRESSION = "regression"


_OPTION_OF_KEY = {
    "management_server_list": "--management-server-list",
    "sep_version": "--sep-version",
    "features": "--feature",
}


def _quick_topology(
    catalogue: Catalogue,
    quick: dict[Role, list[str]],
    extra_hosts: list[str],
    sep_version: str | None,
    features: list[str],
    allow_large: bool,
    management_server_list: list[str],
) -> Topology:
    role_hosts = {role: list(hosts) for role, hosts in quick.items() if hosts}
    for item in extra_hosts:
        name, sep, host = item.partition("=")
        try:
            role = Role(name.strip())
        except ValueError:
            raise UsageError(
                f"--host {item!r}: unknown role {name.strip()!r}",
                hint=f"write --host ROLE=HOST with ROLE one of: {ROLE_NAMES}",
            ) from None
        if not sep or not host.strip():
            raise UsageError(f"--host {item!r}: no host", hint="write --host ROLE=HOST")
        role_hosts.setdefault(role, []).append(host.strip())
    if not role_hosts:
        raise UsageError(
            "nothing to check: give --topology FILE, or hosts with --manager HOST, "
            "--gup HOST, ... or --host ROLE=HOST",
            hint="e.g. sepcheck check --as client --manager sepm01.example.test",
        )
    try:
        return topology_from_hosts(
            role_hosts,
            catalogue,
            sep_version=sep_version,
            features=features,
            allow_large=allow_large,
            management_server_list=management_server_list,
        )
    except SepcheckError as exc:
        # Options have no file and line: name the option instead.
        key = exc.location.key if exc.location and exc.location.key else ""
        # Options have no file: name the option the user typed, not the topology key.
        for prefix, option in _OPTION_OF_KEY.items():
            if key.startswith(prefix):
                key = option
        raise UsageError(f"{key}: {exc.message}" if key else exc.message, hint=exc.hint) from None


def choose_backend(raw: bool) -> BackendChoice:
    """The network backend of this run (see sepcheck/backends.py)."""
    return choose(raw)


@app.command("check")
@friendly_errors
def check_command(
    topology_path: Annotated[
        Path | None,
        typer.Option(
            "--topology",
            "-t",
            help="Topology TOML file.",
            show_default=False,
            envvar="SEPCHECK_TOPOLOGY",
        ),
    ] = None,
    as_roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--as",
            help="Role this host plays (repeat for several); inferred when left out.",
            show_default=False,
            envvar="SEPCHECK_AS",
        ),
    ] = None,
    manager: Annotated[
        list[str] | None, typer.Option("--manager", help="Manager host (no topology file).")
    ] = None,
    gup: Annotated[list[str] | None, typer.Option("--gup", help="GUP host.")] = None,
    database: Annotated[list[str] | None, typer.Option("--database", help="Database host.")] = None,
    client: Annotated[
        list[str] | None, typer.Option("--client", help="Client host, block or range.")
    ] = None,
    syslog: Annotated[list[str] | None, typer.Option("--syslog", help="Syslog server.")] = None,
    extra_hosts: Annotated[
        list[str] | None,
        typer.Option("--host", help="ROLE=HOST for any other role.", show_default=False),
    ] = None,
    sep_version: Annotated[
        str | None, typer.Option("--sep-version", help="SEP version (without a topology).")
    ] = None,
    features: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Site feature (without a topology).", show_default=False),
    ] = None,
    management_server_list: Annotated[
        list[str] | None,
        typer.Option(
            "--management-server-list",
            help="http and/or https (repeatable; without a topology): the protocols the "
            "clients' management server list names.",
            show_default=False,
        ),
    ] = None,
    stage: Annotated[
        Stage,
        typer.Option(
            "--stage",
            help="pre-install: a refused port proves the path (WARN, not FAIL).",
            envvar="SEPCHECK_STAGE",
        ),
    ] = Stage.OPERATIONAL,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="Output on stdout.", envvar="SEPCHECK_FORMAT"),
    ] = ReportFormat.TABLE,
    outputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--output",
            "-o",
            help="Write a report file, atomically; repeat for several. The extension picks "
            "the format: .json, .xml (JUnit), .prom (Prometheus textfile), .md (Markdown), "
            ".html (self-contained page).",
            show_default=False,
            envvar="SEPCHECK_OUTPUT",
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Write the reports into this folder under timestamped names "
            "(sepcheck-<UTC time>-<host>.json), holding the folder's lock while the run "
            "lasts.",
            show_default=False,
            envvar="SEPCHECK_OUTPUT_DIR",
        ),
    ] = None,
    dir_formats: Annotated[
        list[DirFormat] | None,
        typer.Option(
            "--output-dir-format",
            help="Formats written into --output-dir (repeatable; default json).",
            show_default=False,
            envvar="SEPCHECK_OUTPUT_DIR_FORMAT",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            help="Keep only the N newest of this host's reports in --output-dir.",
            show_default=False,
            envvar="SEPCHECK_KEEP",
        ),
    ] = None,
    report_tag: Annotated[
        str | None,
        typer.Option(
            "--report-tag",
            help="Name part of the reports in --output-dir (default: this host's short "
            "name); set it where the host name changes every run (a Kubernetes pod).",
            show_default=False,
            envvar="SEPCHECK_REPORT_TAG",
        ),
    ] = None,
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait",
            min=0,
            help="Seconds to wait for another run's lock on the reports folder before "
            "giving up with exit code 75.",
            envvar="SEPCHECK_LOCK_WAIT",
        ),
    ] = 0.0,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Nothing on stdout: only the summary line (stderr); report files are "
            "still written.",
            envvar="SEPCHECK_QUIET",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.01,
            help="Longest wait for one try, seconds.",
            envvar="SEPCHECK_TIMEOUT",
        ),
    ] = 1.5,
    retries: Annotated[
        int, typer.Option("--retries", min=0, max=20, help="Retries for silent probes.")
    ] = 1,
    max_retries: Annotated[
        int,
        typer.Option(
            "--max-retries", min=0, max=20, help="Retry ceiling when the path loses packets."
        ),
    ] = 6,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=65536,
            help="Most probes in flight; the window adapts below it to the event loop's lag.",
        ),
    ] = 4096,
    per_host: Annotated[
        int, typer.Option("--per-host", min=1, help="Probes in flight toward one address.")
    ] = 32,
    rate: Annotated[
        float,
        typer.Option(
            "--rate", min=0, help="Packets per second (0: no limit).", envvar="SEPCHECK_RATE"
        ),
    ] = 20_000.0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes (default: 2 for runs of 2,000 probes or more on Linux).",
            show_default=False,
        ),
    ] = None,
    ipv4: Annotated[bool, typer.Option("-4", help="Resolve names to IPv4 only.")] = False,
    ipv6: Annotated[bool, typer.Option("-6", help="Resolve names to IPv6 only.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on a terminal.")
    ] = True,
    allow_large: Annotated[
        bool,
        typer.Option("--allow-large-ranges", help="Accept blocks over 4,096 addresses."),
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="An earlier report: show what changed since, after the matrix. With "
            "--output-dir, 'previous' means this host's newest report there.",
            show_default=False,
            envvar="SEPCHECK_BASELINE",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 on any failing flow; 'warning': also on a warning (auditors); "
            "'regression' (with --baseline): only on regressions.",
            envvar="SEPCHECK_FAIL_ON",
        ),
    ] = FailOn.FAILURE,
    mode: Annotated[
        ProbeMode,
        typer.Option(
            "--mode",
            help="connect: no privileges; raw: SYN probes and first-hand ICMP with TTLs, "
            "tells forged resets from closed ports (root or CAP_NET_RAW); auto: raw when "
            "allowed.",
            envvar="SEPCHECK_MODE",
        ),
    ] = ProbeMode.CONNECT,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Probe every flow this host should originate and print the pass/fail matrix."""
    if mode is ProbeMode.RAW:
        require_raw("--mode raw")
    raw = mode is ProbeMode.RAW or (mode is ProbeMode.AUTO and raw_allowed())
    backend = choose_backend(raw)
    rate = bounded("--rate", rate, *RATE_RANGE, zero="no limit", env="SEPCHECK_RATE")
    timeout = bounded("--timeout", timeout, *TIMEOUT_RANGE, env="SEPCHECK_TIMEOUT")
    outputs = split_env_outputs(outputs or [])
    if output_dir is not None:
        writable_folder(output_dir, "--output-dir")
    if (keep is not None or dir_formats or report_tag) and output_dir is None:
        raise UsageError("--keep, --output-dir-format and --report-tag need --output-dir DIR")
    archive = Archive(output_dir, host_tag(report_tag)) if output_dir is not None else None
    wants_previous = baseline is not None and str(baseline) == PREVIOUS
    if wants_previous:
        if archive is None:
            raise UsageError(
                "--baseline previous needs --output-dir DIR",
                hint="or give the path of an earlier report",
            )
        baseline = archive.latest("json")
        if baseline is None:
            stderr_console().print(
                f"sepcheck: no earlier report of this host in {output_dir}: nothing to "
                "compare with yet",
                markup=False,
            )
    if fail_on is FailOn.REGRESSION and baseline is None and not wants_previous:
        raise UsageError(
            "--fail-on regression needs --baseline REPORT",
            hint="with --output-dir, --baseline previous compares with the last run",
        )
    # Read the baseline first: a bad file should stop the run before minutes of probing.
    before = load_report(baseline) if baseline is not None else None
    catalogue = load_catalogue(catalogue_path)
    quick = {
        Role.MANAGER: manager or [],
        Role.GUP: gup or [],
        Role.DATABASE: database or [],
        Role.CLIENT: client or [],
        Role.SYSLOG: syslog or [],
    }
    if topology_path is not None:
        if any(quick.values()) or extra_hosts or sep_version or features or management_server_list:
            raise UsageError(
                "host, --sep-version, --feature and --management-server-list options cannot "
                "be mixed with --topology",
                hint="put them in the topology file, or leave out --topology",
            )
        topology = load_topology(topology_path, catalogue, allow_large=allow_large)
    else:
        topology = _quick_topology(
            catalogue,
            quick,
            extra_hosts or [],
            sep_version,
            features or [],
            allow_large,
            management_server_list or [],
        )
    if ipv4 and ipv6:
        raise UsageError("-4 and -6 exclude each other", hint="give one of them, or neither")
    if max_retries < retries:
        max_retries = retries
    vantage = resolve_vantage(as_roles, topology)
    plan = build_plan(catalogue, topology, vantage)
    err = stderr_console()
    if vantage.inferred:
        err.print(f"sepcheck: role inferred from this host: {vantage.evidence}", markup=False)
    for output in outputs:
        if output.is_dir():
            check_output(output)  # says it is a folder, before the missing extension
        if output.suffix.lower() not in OUTPUT_FORMATS:
            raise UsageError(
                f"--output {output}: unknown extension {output.suffix or '(none)'}",
                hint="use .json, .xml (JUnit), .prom (Prometheus), .md (Markdown) or .html",
            )
        check_output(output)
    # The spool of results lives in the temporary folder for the whole run.
    writable_folder(Path(tempfile.gettempdir()), "temporary folder (TMPDIR)")
    settings = EngineSettings(
        concurrency=concurrency,
        per_host=per_host,
        rate=rate,
        family=socket.AF_INET if ipv4 else socket.AF_INET6 if ipv6 else socket.AF_UNSPEC,
        timing=TimingSettings(
            initial_timeout=min(1.0, timeout),
            min_timeout=min(0.1, timeout),
            max_timeout=timeout,
            retries=retries,
            max_retries=max_retries,
            assume_loss=plan.total < SMALL_RUN,
        ),
    )
    info = VantageInfo(
        hostname=socket.gethostname(),
        role=[r.value for r in vantage.roles],
        inferred=vantage.inferred,
        local_addresses=[str(a) for a in local_addresses()],
    )
    ref = TopologyRef(
        path=str(topology_path) if topology_path else None,
        sha256=topology.digest,
        name=topology.name,
        sep_version=str(topology.sep_version) if topology.sep_version else None,
    )
    # The reports folder's lock, taken before the first probe and held to the last write:
    # an overlapping run (a timer firing while the last audit still runs) waits or gives
    # up instead of writing into the same archive. (--output files need none: each is
    # replaced atomically, and no lock file is left beside a user's own file.)
    with contextlib.ExitStack() as locks:
        if output_dir is not None:
            locks.enter_context(folder_lock(output_dir, lock_wait))
        _run_and_report(
            plan=plan,
            backend=backend,
            settings=settings,
            stage=stage,
            info=info,
            ref=ref,
            catalogue_label=str(catalogue_path or "built-in"),
            workers=workers,
            progress=progress,
            raw=raw,
            outputs=outputs,
            archive=archive,
            dir_formats=dir_formats or [DirFormat.JSON],
            keep=keep,
            before=before,
            baseline=baseline,
            output_format=output_format,
            quiet=quiet,
            fail_on=fail_on,
        )


def _run_and_report(
    *,
    plan: Plan,
    backend: BackendChoice,
    settings: EngineSettings,
    stage: Stage,
    info: VantageInfo,
    ref: TopologyRef,
    catalogue_label: str,
    workers: int | None,
    progress: bool,
    raw: bool,
    outputs: list[Path],
    archive: Archive | None,
    dir_formats: list[DirFormat],
    keep: int | None,
    before: Report | None,
    baseline: Path | None,
    output_format: ReportFormat,
    quiet: bool,
    fail_on: FailOn,
) -> None:
    err = stderr_console()
    show_progress = progress and not quiet and err.is_terminal and plan.total > 1
    bar = Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    )
    task_id = bar.add_task("probes", total=plan.total)
    with bar:
        run = run_check(
            plan=plan,
            backend=backend,
            payloads=load_payloads(),
            settings=settings,
            stage=stage,
            vantage=info,
            topology=ref,
            catalogue=catalogue_label,
            # Spools live in the temporary folder, never beside the reports: a killed run
            # leaves nothing half-written where reports are collected.
            spool_dir=None,
            workers=workers,
            on_progress=(lambda n: bar.advance(task_id, n)) if show_progress else None,
            mode="raw" if raw else "connect",
        )
    changes = None
    written: list[Path] = []
    failed: list[str] = []
    try:
        spools = run.collector.spools
        targets = [(output, OUTPUT_FORMATS[output.suffix.lower()]) for output in outputs]
        extensions = list(dict.fromkeys(f.value for f in dir_formats))
        if archive is not None:
            named = archive.new_names(extensions)
            targets += [(path, OUTPUT_FORMATS[path.suffix]) for path in named.values()]
        for path, fmt in targets:
            # One file that cannot be written (a full disk) must not cost the others,
            # and the run must say exactly which one failed.
            try:
                write_atomic(path, iter(_report_chunks(fmt, run.head, spools)))
                written.append(path)
            except OSError as exc:
                failed.append(f"report {path} not written: {exc.strerror or exc}")
        if archive is not None and keep is not None:
            archive.prune(keep, extensions)
        if before is not None:
            text = "".join(report_chunks(run.head, spools))
            changes = diff_reports(before, Report.model_validate_json(text))
        if quiet:
            pass
        elif output_format is not ReportFormat.TABLE:
            write_stream(iter(_report_chunks(output_format, run.head, spools)), sys.stdout)
        else:
            console = stdout_console()
            console.print(matrix_table(run.head, width=console.width))
            if changes is not None:
                console.print(diff_table(changes))
    finally:
        run.collector.close()
    err.print(summary_line(run.head, fail_on is FailOn.WARNING), markup=False)
    if archive is not None and written:
        err.print(f"reports: {', '.join(str(p) for p in written)}", markup=False)
    if changes is not None:
        err.print(f"since {baseline}: {diff_summary(changes)}", markup=False)
    for failure in failed:
        err.print(f"[bold red]sepcheck: error:[/] {escape(failure)}", highlight=False)
    if failed:
        err.print("  hint: free some space there, or write the reports elsewhere", markup=False)
    if failed:
        raise typer.Exit(EXIT_USAGE)
    noted = noted_signal()
    if noted is not None:
        err.print(
            f"sepcheck: {noted} while the reports were written: they were finished first",
            markup=False,
        )
    if run.interrupted or noted is not None:
        raise typer.Exit(EXIT_INTERRUPTED)
    if run.head.summary.planned == 0:
        raise typer.Exit(EXIT_FINDINGS)  # nothing checked is never a pass, whatever --fail-on
    if fail_on is FailOn.REGRESSION:
        # No earlier report yet (the first scheduled run): nothing can have regressed.
        raise typer.Exit(EXIT_FINDINGS if changes and changes.regressions else EXIT_OK)
    if fail_on is FailOn.WARNING:
        warned = run.head.summary.flows.get(Verdict.WARN.value, 0)
        raise typer.Exit(EXIT_FINDINGS if warned or run.head.verdict is Verdict.FAIL else EXIT_OK)
    raise typer.Exit(EXIT_FINDINGS if run.head.verdict is Verdict.FAIL else EXIT_OK)
