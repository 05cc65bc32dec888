"""The options of `sepcheck check`: each typer option declared once, as an ``Annotated``
alias, and ``CheckOptions``, the frozen value the command turns them into (as typed, not
yet checked: ``check_job.build_job`` does that). The defaults live in ``CheckOptions``
alone; the command's signature reads them from ``DEFAULTS``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sepcheck.cli.app import ProbeMode
from sepcheck.model import Role
from sepcheck.render.formats import Extension, ReportFormat
from sepcheck.results import Stage


class FailOn(StrEnum):
    FAILURE = "failure"
    WARNING = "warning"
    REGRESSION = "regression"


@dataclass(frozen=True)
class CheckOptions:
    """The command line of one `sepcheck check`, option by option."""

    topology_path: Path | None = None
    as_roles: tuple[Role, ...] = ()
    manager: tuple[str, ...] = ()
    gup: tuple[str, ...] = ()
    database: tuple[str, ...] = ()
    client: tuple[str, ...] = ()
    syslog: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    """--host ROLE=HOST, as typed."""
    sep_version: str | None = None
    features: tuple[str, ...] = ()
    management_server_list: tuple[str, ...] = ()
    stage: Stage = Stage.OPERATIONAL
    output_format: ReportFormat = ReportFormat.TABLE
    outputs: tuple[Path, ...] = ()
    output_dir: Path | None = None
    dir_formats: tuple[Extension, ...] = ()
    keep: int | None = None
    report_tag: str | None = None
    lock_wait: float = 0.0
    quiet: bool = False
    timeout: float = 1.5
    retries: int = 1
    max_retries: int = 6
    concurrency: int = 4096
    per_host: int = 32
    rate: float = 20_000.0
    workers: int | None = None
    ipv4: bool = False
    ipv6: bool = False
    progress: bool = True
    allow_large: bool = False
    baseline: Path | None = None
    """A report's path, or 'previous' (see ``check_sources.PREVIOUS``)."""
    fail_on: FailOn = FailOn.FAILURE
    mode: ProbeMode = ProbeMode.CONNECT
    catalogue_path: Path | None = None
    app_checks: bool = True
    """Application checks after open TCP ports (--app/--no-app)."""
    cert_warn_days: float = 30.0
    responder_token: str | None = None
    """--responder-token: the token `sepcheck listen` printed on the targets."""


DEFAULTS = CheckOptions()

Topology = Annotated[
    Path | None,
    typer.Option(
        "--topology",
        "-t",
        help="Topology TOML file.",
        show_default=False,
        envvar="SEPCHECK_TOPOLOGY",
    ),
]
AsRoles = Annotated[
    list[Role] | None,
    typer.Option(
        "--as",
        help="Role this host plays (repeat for several); inferred when left out.",
        show_default=False,
        envvar="SEPCHECK_AS",
    ),
]
Manager = Annotated[
    list[str] | None, typer.Option("--manager", help="Manager host (no topology file).")
]
Gup = Annotated[list[str] | None, typer.Option("--gup", help="GUP host.")]
Database = Annotated[list[str] | None, typer.Option("--database", help="Database host.")]
Client = Annotated[list[str] | None, typer.Option("--client", help="Client host, block or range.")]
Syslog = Annotated[list[str] | None, typer.Option("--syslog", help="Syslog server.")]
ExtraHosts = Annotated[
    list[str] | None,
    typer.Option("--host", help="ROLE=HOST for any other role.", show_default=False),
]
SepVersion = Annotated[
    str | None, typer.Option("--sep-version", help="SEP version (without a topology).")
]
Features = Annotated[
    list[str] | None,
    typer.Option("--feature", help="Site feature (without a topology).", show_default=False),
]
ManagementServerList = Annotated[
    list[str] | None,
    typer.Option(
        "--management-server-list",
        help="http and/or https (repeatable; without a topology): the protocols the "
        "clients' management server list names.",
        show_default=False,
    ),
]
StageOption = Annotated[
    Stage,
    typer.Option(
        "--stage",
        help="pre-install: a refused port proves the path (WARN, not FAIL).",
        envvar="SEPCHECK_STAGE",
    ),
]
Format = Annotated[
    ReportFormat,
    typer.Option("--format", "-f", help="Output on stdout.", envvar="SEPCHECK_FORMAT"),
]
Outputs = Annotated[
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
]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        help="Write the reports into this folder under timestamped names "
        "(sepcheck-TIME-TAG.json: the UTC time, and the tag of --report-tag), holding "
        "the folder's lock while the run lasts.",
        show_default=False,
        envvar="SEPCHECK_OUTPUT_DIR",
    ),
]
DirFormats = Annotated[
    list[Extension] | None,
    typer.Option(
        "--output-dir-format",
        help="Formats written into --output-dir (repeatable; default json).",
        show_default=False,
        envvar="SEPCHECK_OUTPUT_DIR_FORMAT",
    ),
]
Keep = Annotated[
    int | None,
    typer.Option(
        "--keep",
        min=1,
        help="Keep only the N newest reports of this --report-tag in --output-dir.",
        show_default=False,
        envvar="SEPCHECK_KEEP",
    ),
]
ReportTag = Annotated[
    str | None,
    typer.Option(
        "--report-tag",
        help="Name part of the reports in --output-dir (default: this host's short "
        "name); set it where the host name changes every run (a Kubernetes pod).",
        show_default=False,
        envvar="SEPCHECK_REPORT_TAG",
    ),
]
LockWait = Annotated[
    float,
    typer.Option(
        "--lock-wait",
        min=0,
        help="Seconds to wait for another run's lock on the reports folder before "
        "giving up with exit code 75.",
        envvar="SEPCHECK_LOCK_WAIT",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Nothing on stdout: only the summary line (stderr); report files are still written.",
        envvar="SEPCHECK_QUIET",
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.01,
        help="Longest wait for one try, seconds.",
        envvar="SEPCHECK_TIMEOUT",
    ),
]
Retries = Annotated[
    int, typer.Option("--retries", min=0, max=20, help="Retries for silent probes.")
]
MaxRetries = Annotated[
    int,
    typer.Option(
        "--max-retries",
        min=0,
        max=20,
        help="Retry ceiling when the path loses packets; raised to --retries when lower.",
    ),
]
Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency",
        min=1,
        max=65536,
        help="Most probes in flight; the window adapts below it to the event loop's lag.",
    ),
]
PerHost = Annotated[
    int, typer.Option("--per-host", min=1, help="Probes in flight toward one address.")
]
Rate = Annotated[
    float,
    typer.Option("--rate", min=0, help="Packets per second (0: no limit).", envvar="SEPCHECK_RATE"),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Worker processes (default: 2 for runs of 2,000 probes or more on Linux).",
        show_default=False,
    ),
]
IPv4 = Annotated[bool, typer.Option("-4", help="Resolve names to IPv4 only.")]
IPv6 = Annotated[bool, typer.Option("-6", help="Resolve names to IPv6 only.")]
ShowProgress = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Progress bar on a terminal.")
]
AllowLarge = Annotated[
    bool,
    typer.Option("--allow-large-ranges", help="Accept blocks over 4,096 addresses."),
]
Baseline = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        help="An earlier report: show what changed since, after the matrix. With "
        "--output-dir, 'previous' means the newest report of this --report-tag there.",
        show_default=False,
        envvar="SEPCHECK_BASELINE",
    ),
]
FailOnOption = Annotated[
    FailOn,
    typer.Option(
        "--fail-on",
        help="Exit 1 on any failing flow; 'warning': also on a warning (auditors); "
        "'regression' (with --baseline): only on regressions.",
        envvar="SEPCHECK_FAIL_ON",
    ),
]
AppChecks = Annotated[
    bool,
    typer.Option(
        "--app/--no-app",
        help="After an open TCP port, check what answers (SEPM's secars hello, TLS "
        "certificate, SQL Server, SMB, SSH); on by default.",
        envvar="SEPCHECK_APP",
        show_default=False,
    ),
]
CertWarnDays = Annotated[
    float,
    typer.Option(
        "--cert-warn-days",
        min=0,
        max=3650,
        help="Warn when a server certificate expires within this many days.",
        envvar="SEPCHECK_CERT_WARN_DAYS",
    ),
]
ResponderToken = Annotated[
    str | None,
    typer.Option(
        "--responder-token",
        help="The token `sepcheck listen` printed on the targets: each probe is confirmed "
        "by that responder (NAT, middleboxes, one-way paths; UDP becomes conclusive).",
        envvar="SEPCHECK_RESPONDER_TOKEN",
        show_default=False,
    ),
]
Mode = Annotated[
    ProbeMode,
    typer.Option(
        "--mode",
        help="connect: no privileges; raw: SYN probes and first-hand ICMP with TTLs, "
        "tells forged resets from closed ports (root or CAP_NET_RAW); auto: raw when "
        "allowed.",
        envvar="SEPCHECK_MODE",
    ),
]
