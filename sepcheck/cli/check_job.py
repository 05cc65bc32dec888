"""From the options of `sepcheck check` to a checked, typed job: what to probe, how, where
the reports go, what to compare with and what fails the run.

``build_job`` is pure as far as a test needs it: no terminal, no typer, no sockets (what it
asks of this machine goes through ``Machine``, and what it would print through ``say``). It
reads the files the options name (catalogue, topology, baseline) and checks that the
report targets can be written, in the order the checks have always run, so that of two
mistakes the same one is said first.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sepcheck import __version__
from sepcheck.appcheck.definitions import load_app_checks
from sepcheck.appcheck.detect import CHECK as VERSION_CHECK
from sepcheck.appcheck.detect import manager_hosts
from sepcheck.appcheck.responder import ResponderPlan
from sepcheck.appcheck.runner import AppPlan, plan_checks
from sepcheck.backends import BackendChoice, choose
from sepcheck.catalogue import load_catalogue
from sepcheck.cli.app import ProbeMode
from sepcheck.cli.check_options import CheckOptions, FailOn
from sepcheck.cli.check_sources import BaselineSource, read_baseline, read_topology
from sepcheck.cli.validate import RATE_RANGE, TIMEOUT_RANGE, bounded, check_output, writable_folder
from sepcheck.engine import EngineSettings
from sepcheck.errors import UsageError
from sepcheck.model import Expect, Role
from sepcheck.model import Protocol as Transport
from sepcheck.net.beacon import TokenError, fingerprint, parse_token
from sepcheck.plan import Plan, Vantage, build_plan
from sepcheck.render.formats import (
    Extension,
    FileFormat,
    ReportFormat,
    extensions_hint,
    format_of_extension,
)
from sepcheck.report.model import Detected
from sepcheck.results import Stage
from sepcheck.timing import SMALL_RUN, TimingSettings

if TYPE_CHECKING:
    from sepcheck.appcheck.definitions import AppChecks
    from sepcheck.appcheck.detect import Detection
    from sepcheck.archive import Archive
    from sepcheck.catalogue import Catalogue
    from sepcheck.topology import Topology


@dataclass(frozen=True)
class VersionQuery:
    """sep_version = "auto": which managers to ask for their version, and how."""

    hosts: list[str]
    port: int
    checks: AppChecks
    timeout: float
    family: int
    user_agent: str


class Machine(Protocol):
    """What building a job asks of the machine it runs on (a test gives its own)."""

    def detect_version(self, ask: VersionQuery) -> Detection:
        """The managers' answers to the REST API's version request."""

    def require_raw(self, what: str) -> None:
        """Raise a UsageError naming ``what`` when raw sockets are not allowed here."""

    def raw_allowed(self) -> bool: ...

    def vantage(self, roles: Sequence[Role], topology: Topology) -> Vantage:
        """The roles given, or those inferred from this host's addresses and names."""


def choose_backend(raw: bool) -> BackendChoice:
    """The network backend that sends the probes (sepcheck/backends.py); its module is
    imported by the factory when the run starts, not when the job is built."""
    return choose(raw)


def retry_ceiling(retries: int, max_retries: int) -> int:
    """--max-retries, raised to --retries when lower: the ceiling of retries can never be
    under the retries every silent probe gets anyway."""
    return max(retries, max_retries)


def timing_settings(timeout: float, retries: int, max_retries: int, probes: int) -> TimingSettings:
    """How long to wait and how often to retry. --timeout is the longest wait for one try;
    the first wait (before an RTT is measured) and the shortest are capped by it. A small
    run assumes a lossy path until its answers show otherwise (see timing.py)."""
    return TimingSettings(
        initial_timeout=min(1.0, timeout),
        min_timeout=min(0.1, timeout),
        max_timeout=timeout,
        retries=retries,
        max_retries=retry_ceiling(retries, max_retries),
        assume_loss=probes < SMALL_RUN,
    )


@dataclass(frozen=True)
class OutputTarget:
    """A report file of --output, and the format its extension asks for."""

    path: Path
    format: FileFormat


@dataclass(frozen=True)
class ArchiveTarget:
    """--output-dir: the folder of timestamped reports, its formats and pruning."""

    archive: Archive
    extensions: tuple[Extension, ...]
    """Each format once, in the order given (json alone by default)."""
    keep: int | None
    lock_wait: float


@dataclass(frozen=True)
class CheckJob:
    """A check, ready to run: every option checked and every input read."""

    catalogue_label: str
    topology: Topology
    topology_path: Path | None
    vantage: Vantage
    plan: Plan
    stage: Stage
    raw: bool
    backend: BackendChoice
    """What sends the probes (``choose_backend``)."""
    settings: EngineSettings
    workers: int | None
    progress: bool
    outputs: tuple[OutputTarget, ...]
    archive: ArchiveTarget | None
    baseline: BaselineSource | None
    stdout: ReportFormat
    quiet: bool
    fail_on: FailOn
    apps: AppPlan | None = None
    """Application checks after open TCP ports (None: --no-app)."""
    detected: Detected | None = None
    """sep_version = "auto": what the managers said (None: a version was given)."""


def _raw_mode(mode: ProbeMode, machine: Machine) -> bool:
    if mode is ProbeMode.RAW:
        machine.require_raw("--mode raw")
    return mode is ProbeMode.RAW or (mode is ProbeMode.AUTO and machine.raw_allowed())


def _archive(options: CheckOptions) -> ArchiveTarget | None:
    if options.output_dir is not None:
        writable_folder(options.output_dir, "--output-dir")
    if (options.keep is not None or options.dir_formats or options.report_tag) and (
        options.output_dir is None
    ):
        raise UsageError("--keep, --output-dir-format and --report-tag need --output-dir DIR")
    if options.output_dir is None:
        return None
    from sepcheck.archive import Archive, host_tag

    return ArchiveTarget(
        archive=Archive(options.output_dir, host_tag(options.report_tag)),
        extensions=tuple(dict.fromkeys(options.dir_formats or (Extension.JSON,))),
        keep=options.keep,
        lock_wait=options.lock_wait,
    )


def output_target(path: Path) -> OutputTarget:
    """An --output file whose format its extension names, and that can be written."""
    if path.is_dir():
        check_output(path)  # says it is a folder, before the missing extension
    fmt = format_of_extension(path.suffix)
    if fmt is None:
        raise UsageError(
            f"--output {path}: unknown extension {path.suffix or '(none)'}",
            hint=f"use {extensions_hint()}",
        )
    check_output(path)
    return OutputTarget(path, fmt)


def address_family(*, ipv4: bool, ipv6: bool) -> int:
    """The family names resolve to: -4, -6, or either (not both: see ``build_job``)."""
    if ipv4:
        return socket.AF_INET
    return socket.AF_INET6 if ipv6 else socket.AF_UNSPEC


def engine_settings(
    options: CheckOptions, rate: float, timeout: float, probes: int
) -> EngineSettings:
    """The engine's limits and timing; ``rate`` and ``timeout`` as checked."""
    return EngineSettings(
        concurrency=options.concurrency,
        per_host=options.per_host,
        rate=rate,
        family=address_family(ipv4=options.ipv4, ipv6=options.ipv6),
        timing=timing_settings(timeout, options.retries, options.max_retries, probes),
    )


def build_job(options: CheckOptions, machine: Machine, say: Callable[[str], None]) -> CheckJob:
    """Check ``options`` and read what they name, into a job; raise a UsageError (or the
    error of a file read) at the first mistake. ``say`` gets the notes for the user."""
    raw = _raw_mode(options.mode, machine)
    backend = choose_backend(raw)
    rate = bounded("--rate", options.rate, *RATE_RANGE, zero="no limit", env="SEPCHECK_RATE")
    timeout = bounded("--timeout", options.timeout, *TIMEOUT_RANGE, env="SEPCHECK_TIMEOUT")
    archive = _archive(options)
    baseline = read_baseline(options, archive.archive if archive else None, say)
    catalogue = load_catalogue(options.catalogue_path)
    topology = read_topology(options, catalogue)
    if options.ipv4 and options.ipv6:
        raise UsageError("-4 and -6 exclude each other", hint="give one of them, or neither")
    family = address_family(ipv4=options.ipv4, ipv6=options.ipv6)
    # Every option and output target is checked before the managers are asked anything.
    outputs = tuple(output_target(path) for path in options.outputs)
    writable_folder(Path(tempfile.gettempdir()), "temporary folder (TMPDIR)")
    checks = load_app_checks() if options.app_checks or topology.version_auto else None
    detection = None
    if topology.version_auto and checks is not None:
        if checks.named(VERSION_CHECK) is None:
            raise UsageError(
                f'sep_version = "auto" reads the version with the check '
                f"{VERSION_CHECK!r}, which probes/app.toml no longer has",
                hint="restore it in probes/app.toml, or give the version (sep_version, "
                "--sep-version)",
            )
        query = VersionQuery(
            hosts=manager_hosts(topology.hosts(Role.MANAGER)),
            port=rest_api_port(catalogue, topology),
            checks=checks,
            timeout=timeout,
            family=family,
            user_agent=USER_AGENT,
        )
        detection = machine.detect_version(query)
        topology = replace(topology, sep_version=detection.version)
    vantage = machine.vantage(options.as_roles, topology)
    plan = build_plan(catalogue, topology, vantage)
    if detection is not None:
        # The plan's own note on an unknown version is replaced by the one that says why.
        kept = tuple(n for n in plan.notes if not n.startswith("sep_version is auto"))
        plan = replace(plan, notes=(*kept, detection.note))
    if detection is not None:
        say(f"sepcheck: {detection.note}")
    if vantage.inferred:
        say(f"sepcheck: role inferred from this host: {vantage.evidence}")
    return CheckJob(
        catalogue_label=str(options.catalogue_path or "built-in"),
        topology=topology,
        topology_path=options.topology_path,
        vantage=vantage,
        plan=plan,
        stage=options.stage,
        raw=raw,
        backend=backend,
        settings=engine_settings(options, rate, timeout, plan.total),
        workers=options.workers,
        progress=options.progress,
        outputs=outputs,
        archive=archive,
        baseline=baseline,
        stdout=options.output_format,
        quiet=options.quiet,
        fail_on=options.fail_on,
        apps=_app_plan(options, plan, checks, timeout, detection),
        detected=detected(detection) if detection is not None else None,
    )


USER_AGENT = f"sepcheck/{__version__} (SEP reachability check)"


def rest_api_port(catalogue: Catalogue, topology: Topology) -> int:
    """The manager's REST API port: 8446, or where the topology moved it."""
    for entry in catalogue:
        if entry.destination is Role.MANAGER and entry.port == REST_API_PORT:
            return topology.port_for(entry)
    return REST_API_PORT


REST_API_PORT = 8446


def responder_plan(token: str, plan: Plan) -> ResponderPlan:
    """--responder-token: the key, and the TCP ports of the plan's reachable flows (where a
    query can find the responder on a target)."""
    try:
        key = parse_token(token)
    except TokenError as exc:
        raise UsageError(
            f"--responder-token: {exc}", hint="copy it from `sepcheck listen`'s output"
        ) from None
    ports = [
        flow.port
        for flow in plan.flows
        if flow.entry.protocol is Transport.TCP and flow.entry.expect is Expect.REACHABLE
    ]
    return ResponderPlan(key, fingerprint(key), tuple(dict.fromkeys(ports)))


def _app_plan(
    options: CheckOptions,
    plan: Plan,
    checks: AppChecks | None,
    timeout: float,
    detection: Detection | None,
) -> AppPlan | None:
    if options.responder_token is not None:
        # The responder confirms each probe; the application checks would only meet it.
        return AppPlan(
            checks={},
            timeout=timeout,
            user_agent=USER_AGENT,
            cert_warn_days=options.cert_warn_days,
            responder=responder_plan(options.responder_token, plan),
        )
    if not options.app_checks or checks is None:
        return None
    chosen = detection.chosen if detection is not None else None
    return AppPlan(
        checks=plan_checks(plan, checks),
        timeout=timeout,
        user_agent=USER_AGENT,
        versions={chosen.host: chosen.version} if chosen and chosen.version else {},
        cert_warn_days=options.cert_warn_days,
    )


def detected(detection: Detection) -> Detected:
    """The report's ``detected``: the answer planned with, or why there was none."""
    chosen = detection.chosen
    if chosen is not None:
        return Detected(
            version=chosen.version,
            source=chosen.url,
            api_version=chosen.api_version,
            host=chosen.host,
        )
    return Detected(version=None, source=detection.note)
