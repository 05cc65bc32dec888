"""The command line: the only module that reads argv, writes to the terminal and exits.

Every command turns SepcheckError (bad input) into a one-line message with a hint and exit
code 2. Exit codes: 0 success, 1 findings (failing flows, later), 2 usage or input error.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sepcheck import __version__
from sepcheck.catalogue import Catalogue, load_catalogue
from sepcheck.data import data_dir
from sepcheck.diff import diff_reports
from sepcheck.engine import EngineSettings
from sepcheck.errors import SepcheckError, UsageError
from sepcheck.localhost import local_addresses, local_names
from sepcheck.merge import merge_reports
from sepcheck.model import ROLE_NAMES, Protocol, Role
from sepcheck.net.sockets import SocketBackend
from sepcheck.payloads import load_payloads
from sepcheck.plan import Vantage, build_plan, infer_vantage
from sepcheck.render.catalogue import catalogue_json, catalogue_markdown, catalogue_table
from sepcheck.render.diff import diff_json, diff_summary, diff_table
from sepcheck.render.formats import junit_chunks, markdown_report, prometheus_chunks
from sepcheck.render.html import html_chunks
from sepcheck.render.matrix import matrix_table, summary_line
from sepcheck.render.merge import site_json, site_summary, site_table
from sepcheck.render.plan import plan_json_chunks, plan_lines, plan_table, skipped_table
from sepcheck.report.load import load_report
from sepcheck.report.model import Report, ReportHead, TopologyRef, VantageInfo
from sepcheck.report.schema import report_schema_text
from sepcheck.report.writer import report_chunks, write_atomic, write_stream
from sepcheck.results import Stage, Verdict
from sepcheck.run import run_check
from sepcheck.timing import TimingSettings
from sepcheck.topology import Topology, load_topology, topology_from_hosts
from sepcheck.versions import SepVersion, parse_version

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="sepcheck",
    help="Reachability probe and audit tool for Symantec Endpoint Protection deployments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

P = ParamSpec("P")
R = TypeVar("R")


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    # Piped tables keep their columns readable instead of wrapping at rich's 80-column
    # default; COLUMNS still wins when the user sets it.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if wide else None)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SepcheckError into 'sepcheck: error: WHERE: WHAT' plus a hint, exit 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SepcheckError as exc:
            err = _stderr()
            err.print(f"[bold red]sepcheck: error:[/] {exc}", markup=True, highlight=False)
            if exc.hint:
                err.print(f"  hint: {exc.hint}", markup=False)
            if exc.detail:
                err.print(f"  {exc.detail}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sepcheck {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Reachability probe and audit tool for Symantec Endpoint Protection deployments."""


class CatalogueFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class PlanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


CatalogueOption = Annotated[
    Path | None,
    typer.Option(
        "--catalogue",
        help="Catalogue file or folder of *.toml files to use instead of the built-in one.",
        show_default=False,
    ),
]


def _write_chunks(chunks: Iterable[str]) -> None:
    out = sys.stdout
    for chunk in chunks:
        out.write(chunk)
    out.flush()


@app.command("catalogue")
@friendly_errors
def catalogue_command(
    output_format: Annotated[
        CatalogueFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CatalogueFormat.TABLE,
    sep_version: Annotated[
        str | None,
        typer.Option("--sep-version", help="Only entries that apply to this SEP version."),
    ] = None,
    role: Annotated[
        Role | None, typer.Option("--role", help="Only flows with this role at either end.")
    ] = None,
    protocol: Annotated[
        Protocol | None, typer.Option("--protocol", help="Only this protocol.")
    ] = None,
    catalogue_path: CatalogueOption = None,
) -> None:
    """List the SEP flows of the port catalogue."""
    catalogue = load_catalogue(catalogue_path)
    version = _parse_cli_version(sep_version)
    entries = list(catalogue.select(version=version, role=role, protocol=protocol))
    if output_format is CatalogueFormat.JSON:
        _write_chunks([catalogue_json(entries)])
    elif output_format is CatalogueFormat.MARKDOWN:
        _write_chunks([catalogue_markdown(entries)])
    else:
        title = f"SEP flows ({len(entries)} of {len(catalogue)} entries)"
        _stdout().print(catalogue_table(entries, title=title))


def _parse_cli_version(text: str | None) -> SepVersion | None:
    if text is None:
        return None
    try:
        return parse_version(text)
    except SepcheckError as exc:
        raise UsageError(f"--sep-version: {exc.message}", hint=exc.hint) from None


def _vantage(roles: list[Role] | None, topology: Topology) -> Vantage:
    if roles:
        return Vantage(tuple(dict.fromkeys(roles)))
    inferred = infer_vantage(topology, local_addresses(), local_names())
    if inferred is None:
        raise UsageError(
            "cannot tell which role this host plays: none of its addresses or names is in "
            "the topology",
            hint="pass --as ROLE (e.g. --as client)",
        )
    return inferred


@app.command("plan")
@friendly_errors
def plan_command(
    topology_path: Annotated[
        Path, typer.Option("--topology", "-t", help="Topology TOML file.", show_default=False)
    ],
    as_roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--as",
            help="Role this host plays (repeat for several). Inferred from local addresses "
            "when left out.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        PlanFormat, typer.Option("--format", "-f", help="Output format.")
    ] = PlanFormat.TABLE,
    expand: Annotated[
        bool,
        typer.Option("--expand", help="Table format: one line per probe instead of per block."),
    ] = False,
    allow_large: Annotated[
        bool,
        typer.Option(
            "--allow-large-ranges",
            help="Accept host blocks larger than 4,096 addresses (up to a /8).",
        ),
    ] = False,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Show every probe this host would send, without sending anything."""
    catalogue: Catalogue = load_catalogue(catalogue_path)
    topology = load_topology(topology_path, catalogue, allow_large=allow_large)
    vantage = _vantage(as_roles, topology)
    plan = build_plan(catalogue, topology, vantage)
    err = _stderr()
    if vantage.inferred:
        err.print(f"sepcheck: role inferred from this host: {vantage.evidence}", markup=False)
    if output_format is PlanFormat.JSON:
        _write_chunks(plan_json_chunks(plan, topology))
        return
    if expand:
        _write_chunks(plan_lines(plan))
    else:
        console = _stdout()
        console.print(plan_table(plan))
        skipped = skipped_table(plan)
        if skipped is not None:
            console.print(skipped)
    gaps = len(plan.gaps)
    err.print(
        f"{plan.total:,} probes in {len(plan.flows)} flows"
        + (f"; {gaps} required flow(s) have no destination hosts (gaps)" if gaps else ""),
        markup=False,
    )


@app.command("init")
@friendly_errors
def init_command(
    path: Annotated[
        Path, typer.Argument(help="Where to write the example topology ('-' for stdout).")
    ] = Path("site.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example topology to start from."""
    text = (data_dir("examples") / "site.toml").read_text(encoding="utf-8")
    if str(path) == "-":
        _write_chunks([text])
        return
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="pass --force to overwrite it, or name another file"
        )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    _stderr().print(
        f"wrote {path}; edit it, then: sepcheck plan --topology {path} --as client",
        markup=False,
    )


class CheckFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


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


class FailOn(StrEnum):
    FAILURE = "failure"
    REGRESSION = "regression"


QUICK_ROLES = {
    Role.MANAGER: "--manager",
    Role.GUP: "--gup",
    Role.DATABASE: "--database",
    Role.CLIENT: "--client",
    Role.SYSLOG: "--syslog",
}


def _quick_topology(
    catalogue: Catalogue,
    quick: dict[Role, list[str]],
    extra_hosts: list[str],
    sep_version: str | None,
    features: list[str],
    allow_large: bool,
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
        )
    except SepcheckError as exc:
        # Options have no file and line: name the option instead.
        key = exc.location.key if exc.location and exc.location.key else ""
        raise UsageError(f"{key}: {exc.message}" if key else exc.message, hint=exc.hint) from None


HostList = Annotated[list[str] | None, typer.Option(show_default=False)]


@app.command("check")
@friendly_errors
def check_command(
    topology_path: Annotated[
        Path | None,
        typer.Option("--topology", "-t", help="Topology TOML file.", show_default=False),
    ] = None,
    as_roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--as",
            help="Role this host plays (repeat for several); inferred when left out.",
            show_default=False,
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
    stage: Annotated[
        Stage,
        typer.Option(
            "--stage",
            help="pre-install: a refused port proves the path (WARN, not FAIL).",
        ),
    ] = Stage.OPERATIONAL,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Output on stdout.")
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
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.01, help="Longest wait for one try, seconds.")
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
        float, typer.Option("--rate", min=0, help="Packets per second (0: no limit).")
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
            help="An earlier report: show what changed since, after the matrix.",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 on any failing flow, or (with --baseline) only on regressions.",
        ),
    ] = FailOn.FAILURE,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Probe every flow this host should originate and print the pass/fail matrix."""
    if fail_on is FailOn.REGRESSION and baseline is None:
        raise UsageError("--fail-on regression needs --baseline REPORT")
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
        if any(quick.values()) or extra_hosts or sep_version or features:
            raise UsageError(
                "host, --sep-version and --feature options cannot be mixed with --topology",
                hint="put them in the topology file, or leave out --topology",
            )
        topology = load_topology(topology_path, catalogue, allow_large=allow_large)
    else:
        topology = _quick_topology(
            catalogue, quick, extra_hosts or [], sep_version, features or [], allow_large
        )
    if ipv4 and ipv6:
        raise UsageError("-4 and -6 exclude each other", hint="give one of them, or neither")
    if max_retries < retries:
        max_retries = retries
    vantage = _vantage(as_roles, topology)
    plan = build_plan(catalogue, topology, vantage)
    err = _stderr()
    if vantage.inferred:
        err.print(f"sepcheck: role inferred from this host: {vantage.evidence}", markup=False)
    for output in outputs or []:
        if output.suffix.lower() not in OUTPUT_FORMATS:
            raise UsageError(
                f"--output {output}: unknown extension {output.suffix or '(none)'}",
                hint="use .json, .xml (JUnit), .prom (Prometheus), .md (Markdown) or .html",
            )
        if not output.parent.exists():
            raise UsageError(
                f"--output: folder {output.parent} does not exist", hint="create it first"
            )
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
    show_progress = progress and err.is_terminal and plan.total > 1
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
            backend_factory=SocketBackend,
            payloads=load_payloads(),
            settings=settings,
            stage=stage,
            vantage=info,
            topology=ref,
            catalogue=str(catalogue_path or "built-in"),
            spool_dir=outputs[0].parent if outputs else None,
            workers=workers,
            on_progress=(lambda n: bar.advance(task_id, n)) if show_progress else None,
        )
    changes = None
    try:
        spools = run.collector.spools
        for output in outputs or []:
            fmt = OUTPUT_FORMATS[output.suffix.lower()]
            write_atomic(output, iter(_report_chunks(fmt, run.head, spools)))
        if before is not None:
            text = "".join(report_chunks(run.head, spools))
            changes = diff_reports(before, Report.model_validate_json(text))
        if output_format is not ReportFormat.TABLE:
            write_stream(iter(_report_chunks(output_format, run.head, spools)), sys.stdout)
        else:
            console = _stdout()
            console.print(matrix_table(run.head, width=console.width))
            if changes is not None:
                console.print(diff_table(changes))
    finally:
        run.collector.close()
    err.print(summary_line(run.head), markup=False)
    if changes is not None:
        err.print(f"since {baseline}: {diff_summary(changes)}", markup=False)
    if run.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if fail_on is FailOn.REGRESSION:
        assert changes is not None
        raise typer.Exit(EXIT_FINDINGS if changes.regressions else EXIT_OK)
    raise typer.Exit(EXIT_FINDINGS if run.head.verdict is Verdict.FAIL else EXIT_OK)


@app.command("diff")
@friendly_errors
def diff_command(
    before: Annotated[Path, typer.Argument(help="The earlier JSON report (the baseline).")],
    after: Annotated[Path, typer.Argument(help="The later JSON report.")],
    output_format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CheckFormat.TABLE,
) -> None:
    """Show what changed between two reports; exit 1 when something regressed."""
    result = diff_reports(load_report(before), load_report(after))
    if output_format is CheckFormat.JSON:
        _write_chunks([diff_json(result)])
    else:
        _stdout().print(diff_table(result))
    _stderr().print(diff_summary(result), markup=False)
    raise typer.Exit(EXIT_FINDINGS if result.regressions else EXIT_OK)


@app.command("merge")
@friendly_errors
def merge_command(
    reports: Annotated[list[Path], typer.Argument(help="JSON reports from several hosts.")],
    output_format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CheckFormat.TABLE,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Merge reports from several vantage points into one site view; flows nobody
    measured are listed as gaps. Exit 1 when a flow fails in any report."""
    catalogue = load_catalogue(catalogue_path)
    view = merge_reports(catalogue, [(path, load_report(path)) for path in reports])
    if output_format is CheckFormat.JSON:
        _write_chunks([site_json(view)])
    else:
        _stdout().print(site_table(view))
    _stderr().print(site_summary(view), markup=False)
    raise typer.Exit(EXIT_FINDINGS if view.failing else EXIT_OK)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the report (also shipped as schema/report.schema.json)."""
    _write_chunks([report_schema_text()])


def main() -> None:
    app()
