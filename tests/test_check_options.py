"""The options of `sepcheck check` reach the job builder, each one, as typed."""

from __future__ import annotations

import os
import typing
from dataclasses import fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sepcheck.cli import app, check, check_options
from sepcheck.cli.app import ProbeMode
from sepcheck.cli.check_job import CheckJob
from sepcheck.cli.check_options import DEFAULTS, CheckOptions, FailOn
from sepcheck.errors import UsageError
from sepcheck.model import Role
from sepcheck.render.formats import Extension, ReportFormat
from sepcheck.results import Stage


def test_every_option_reaches_the_job_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command passes each option on, none left at its default: every field here
    differs from ``DEFAULTS``."""
    seen: list[CheckOptions] = []

    def capture(options: CheckOptions, machine: object, say: object) -> CheckJob:
        seen.append(options)
        raise UsageError("captured")

    monkeypatch.setattr(check, "build_job", capture)
    for name in [n for n in os.environ if n.startswith("SEPCHECK_")]:
        monkeypatch.delenv(name)
    args = (
        "check -t t.toml --as client --as gup --manager m --gup g --database d --client c "
        "--syslog s --host mail=x --sep-version 14.3 --feature f --management-server-list "
        "https --stage pre-install --format json -o o.json --output-dir dir "
        "--output-dir-format md --keep 2 --report-tag tag --lock-wait 3 --quiet --timeout 2 "
        "--retries 3 --max-retries 4 --concurrency 5 --per-host 6 --rate 7 --workers 8 -4 -6 "
        "--no-progress --allow-large-ranges --baseline b.json --fail-on warning --mode auto "
        "--catalogue cat --no-app --cert-warn-days 9 --responder-token t"
    )
    result = CliRunner().invoke(app, args.split())
    assert result.exit_code == 2
    assert "captured" in result.stderr
    expected = CheckOptions(
        topology_path=Path("t.toml"),
        as_roles=(Role.CLIENT, Role.GUP),
        manager=("m",),
        gup=("g",),
        database=("d",),
        client=("c",),
        syslog=("s",),
        extra_hosts=("mail=x",),
        sep_version="14.3",
        features=("f",),
        management_server_list=("https",),
        stage=Stage.PRE_INSTALL,
        output_format=ReportFormat.JSON,
        outputs=(Path("o.json"),),
        output_dir=Path("dir"),
        dir_formats=(Extension.MD,),
        keep=2,
        report_tag="tag",
        lock_wait=3.0,
        quiet=True,
        timeout=2.0,
        retries=3,
        max_retries=4,
        concurrency=5,
        per_host=6,
        rate=7.0,
        workers=8,
        ipv4=True,
        ipv6=True,
        progress=False,
        allow_large=True,
        baseline=Path("b.json"),
        fail_on=FailOn.WARNING,
        mode=ProbeMode.AUTO,
        catalogue_path=Path("cat"),
        app_checks=False,
        cert_warn_days=9.0,
        responder_token="t",
    )
    assert seen == [expected]
    same = [
        f.name
        for f in fields(CheckOptions)
        if getattr(expected, f.name) == getattr(DEFAULTS, f.name)
    ]
    assert same == []


def test_max_retries_help_says_it_is_raised() -> None:
    _, option = typing.get_args(check_options.MaxRetries)
    assert isinstance(option, typer.models.OptionInfo)
    assert option.help == (
        "Retry ceiling when the path loses packets; raised to --retries when lower."
    )
