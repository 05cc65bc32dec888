"""`sepcheck check`: probe every flow this host should originate; the matrix, the report
files and the exit code.

The command only gathers its options into a ``CheckOptions`` value; ``check_job`` checks
them into a job (pure, tested without the command line), ``check_run`` runs it and writes
the reports, and ``check_exit`` turns how the run ended into the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import typer

from sepcheck.cli import check_options as o
from sepcheck.cli.app import (
    CatalogueOption,
    app,
    friendly_errors,
    raw_allowed,
    require_raw,
    resolve_vantage,
    stderr_console,
)
from sepcheck.cli.check_options import DEFAULTS as D
from sepcheck.cli.check_options import CheckOptions
from sepcheck.cli.validate import split_env_outputs
from sepcheck.model import Role

if TYPE_CHECKING:
    from sepcheck.appcheck.detect import Detection
    from sepcheck.cli.check_job import CheckJob, Machine, VersionQuery
    from sepcheck.plan import Vantage
    from sepcheck.topology import Topology


def build_job(options: CheckOptions, machine: Machine, say: Callable[[str], None]) -> CheckJob:
    """``check_job.build_job``, loaded when a check starts: it reads the catalogue and the
    topology (pydantic), which neither `--help` nor the other commands need."""
    from sepcheck.cli import check_job

    return check_job.build_job(options, machine, say)


class ThisMachine:
    """The machine sepcheck runs on, as ``check_job.Machine``."""

    def require_raw(self, what: str) -> None:
        require_raw(what)

    def raw_allowed(self) -> bool:
        return raw_allowed()

    def vantage(self, roles: Sequence[Role], topology: Topology) -> Vantage:
        return resolve_vantage(list(roles), topology)

    def detect_version(self, ask: VersionQuery) -> Detection:
        from sepcheck.appcheck.detect import detect_version

        return detect_version(
            ask.hosts,
            ask.port,
            ask.checks,
            timeout=ask.timeout,
            family=ask.family,
            user_agent=ask.user_agent,
        )


def _say(line: str) -> None:
    stderr_console().print(line, markup=False)


@app.command("check")
@friendly_errors
def check_command(
    topology_path: o.Topology = D.topology_path,
    as_roles: o.AsRoles = None,
    manager: o.Manager = None,
    gup: o.Gup = None,
    database: o.Database = None,
    client: o.Client = None,
    syslog: o.Syslog = None,
    extra_hosts: o.ExtraHosts = None,
    sep_version: o.SepVersion = D.sep_version,
    features: o.Features = None,
    management_server_list: o.ManagementServerList = None,
    stage: o.StageOption = D.stage,
    output_format: o.Format = D.output_format,
    outputs: o.Outputs = None,
    output_dir: o.OutputDir = D.output_dir,
    dir_formats: o.DirFormats = None,
    keep: o.Keep = D.keep,
    report_tag: o.ReportTag = D.report_tag,
    lock_wait: o.LockWait = D.lock_wait,
    quiet: o.Quiet = D.quiet,
    timeout: o.Timeout = D.timeout,
    retries: o.Retries = D.retries,
    max_retries: o.MaxRetries = D.max_retries,
    concurrency: o.Concurrency = D.concurrency,
    per_host: o.PerHost = D.per_host,
    rate: o.Rate = D.rate,
    workers: o.Workers = D.workers,
    ipv4: o.IPv4 = D.ipv4,
    ipv6: o.IPv6 = D.ipv6,
    progress: o.ShowProgress = D.progress,
    allow_large: o.AllowLarge = D.allow_large,
    baseline: o.Baseline = D.baseline,
    fail_on: o.FailOnOption = D.fail_on,
    mode: o.Mode = D.mode,
    app_checks: o.AppChecks = D.app_checks,
    cert_warn_days: o.CertWarnDays = D.cert_warn_days,
    responder_token: o.ResponderToken = D.responder_token,
    catalogue_path: CatalogueOption = D.catalogue_path,
) -> None:
    """Probe every flow this host should originate and print the pass/fail matrix.

    SEPCHECK_BACKEND=portable sends the probes with the portable network backend (the
    default off Linux) instead of Linux's.
    """
    options = CheckOptions(
        topology_path=topology_path,
        as_roles=tuple(as_roles or ()),
        manager=tuple(manager or ()),
        gup=tuple(gup or ()),
        database=tuple(database or ()),
        client=tuple(client or ()),
        syslog=tuple(syslog or ()),
        extra_hosts=tuple(extra_hosts or ()),
        sep_version=sep_version,
        features=tuple(features or ()),
        management_server_list=tuple(management_server_list or ()),
        stage=stage,
        output_format=output_format,
        outputs=tuple(split_env_outputs(outputs or [])),
        output_dir=output_dir,
        dir_formats=tuple(dir_formats or ()),
        keep=keep,
        report_tag=report_tag,
        lock_wait=lock_wait,
        quiet=quiet,
        timeout=timeout,
        retries=retries,
        max_retries=max_retries,
        concurrency=concurrency,
        per_host=per_host,
        rate=rate,
        workers=workers,
        ipv4=ipv4,
        ipv6=ipv6,
        progress=progress,
        allow_large=allow_large,
        baseline=baseline,
        fail_on=fail_on,
        mode=mode,
        catalogue_path=catalogue_path,
        app_checks=app_checks,
        cert_warn_days=cert_warn_days,
        responder_token=responder_token,
    )
    job = build_job(options, ThisMachine(), _say)
    from sepcheck.cli.check_run import run_job  # the run's modules, once the job holds

    raise typer.Exit(run_job(job))
