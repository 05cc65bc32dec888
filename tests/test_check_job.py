"""`sepcheck check`'s options checked into a job, without the command line: timing, the
retry ceiling, --host, report targets and their formats, the baseline ('previous'
included), raw mode and the order of the checks."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from sepcheck.appcheck.detect import Answer, Detection, url_of
from sepcheck.cli.app import ProbeMode
from sepcheck.cli.check_job import (
    CheckJob,
    VersionQuery,
    build_job,
    choose_backend,
    timing_settings,
)
from sepcheck.cli.check_options import CheckOptions, FailOn
from sepcheck.cli.check_sources import parse_host_option
from sepcheck.errors import UsageError
from sepcheck.model import Role
from sepcheck.plan import Vantage
from sepcheck.render.formats import ReportFormat
from sepcheck.topology import Topology
from sepcheck.versions import parse_version

QUICK = CheckOptions(as_roles=(Role.CLIENT,), manager=("198.18.2.2",))


@dataclass
class FakeMachine:
    """A machine where raw sockets are (not) allowed and roles are inferred as told."""

    raw_problem: tuple[str, str] | None = None
    inferred: Vantage | None = None
    asked: list[str] = field(default_factory=list)
    answer: str | None = None
    """The version the managers answer (sep_version = "auto"); None: no answer."""
    queries: list[VersionQuery] = field(default_factory=list)

    @property
    def _why(self) -> str:
        return "answered" if self.answer else "no answer within 1.5 s"

    def detect_version(self, ask: VersionQuery) -> Detection:
        self.queries.append(ask)
        answers = tuple(
            Answer(
                host,
                url_of(host, ask.port),
                self.answer,
                None,
                "answered" if self.answer else "no answer within 1.5 s",
            )
            for host in ask.hosts
        )
        if self.answer is None:
            return Detection(None, None, answers)
        return Detection(parse_version(self.answer), answers[0], answers)

    def require_raw(self, what: str) -> None:
        self.asked.append(what)
        if self.raw_problem is not None:
            message, hint = self.raw_problem
            raise UsageError(f"{what}: {message}", hint=hint)

    def raw_allowed(self) -> bool:
        self.asked.append("allowed?")
        return self.raw_problem is None

    def vantage(self, roles: Sequence[Role], topology: Topology) -> Vantage:
        if roles:
            return Vantage(tuple(roles))
        if self.inferred is None:
            raise UsageError("cannot tell which role this host plays")
        return self.inferred


def build(options: CheckOptions, machine: FakeMachine | None = None) -> tuple[CheckJob, list[str]]:
    said: list[str] = []
    return build_job(options, machine or FakeMachine(), said.append), said


def usage_error(options: CheckOptions, machine: FakeMachine | None = None) -> UsageError:
    with pytest.raises(UsageError) as info:
        build(options, machine)
    return info.value


def test_quick_options_make_a_job() -> None:
    job, said = build(QUICK)
    assert said == []
    assert job.vantage.roles == (Role.CLIENT,)
    assert {f.entry.destination for f in job.plan.flows} == {Role.MANAGER}
    assert job.plan.total == 7
    assert (job.stdout, job.quiet, job.fail_on) == (ReportFormat.TABLE, False, FailOn.FAILURE)
    assert job.raw is False
    assert job.backend == choose_backend(False)
    assert job.settings.family == socket.AF_UNSPEC
    assert job.outputs == ()
    assert job.archive is None
    assert job.baseline is None
    assert job.catalogue_label == "built-in"


@pytest.mark.parametrize(
    ("timeout", "initial", "shortest"), [(1.5, 1.0, 0.1), (0.05, 0.05, 0.05), (30, 1.0, 0.1)]
)
def test_timing_follows_the_timeout(timeout: float, initial: float, shortest: float) -> None:
    job, _ = build(replace(QUICK, timeout=timeout))
    timing = job.settings.timing
    assert (timing.initial_timeout, timing.min_timeout, timing.max_timeout) == (
        initial,
        shortest,
        timeout,
    )
    assert timing.assume_loss  # 7 probes: a small run assumes a lossy path


def test_a_large_run_does_not_assume_loss() -> None:
    assert timing_settings(1.5, 1, 6, probes=999).assume_loss
    assert not timing_settings(1.5, 1, 6, probes=1000).assume_loss


@pytest.mark.parametrize(
    ("retries", "max_retries", "ceiling"), [(1, 6, 6), (8, 2, 8), (3, 3, 3), (0, 0, 0)]
)
def test_retries_above_the_ceiling_raise_it(retries: int, max_retries: int, ceiling: int) -> None:
    job, _ = build(replace(QUICK, retries=retries, max_retries=max_retries))
    assert job.settings.timing.retries == retries
    assert job.settings.timing.max_retries == ceiling


def test_limits_and_family_are_passed_on() -> None:
    job, _ = build(replace(QUICK, concurrency=9, per_host=3, rate=0, ipv6=True, workers=2))
    assert (job.settings.concurrency, job.settings.per_host, job.settings.rate) == (9, 3, 0)
    assert job.settings.family == socket.AF_INET6
    assert job.workers == 2
    assert build(replace(QUICK, ipv4=True))[0].settings.family == socket.AF_INET
    error = usage_error(replace(QUICK, ipv4=True, ipv6=True))
    assert (error.message, error.hint) == (
        "-4 and -6 exclude each other",
        "give one of them, or neither",
    )


@pytest.mark.parametrize(
    ("item", "parsed"),
    [
        ("manager=198.18.2.2", (Role.MANAGER, "198.18.2.2")),
        (" gup = sepgup01 ", (Role.GUP, "sepgup01")),
    ],
)
def test_host_option(item: str, parsed: tuple[Role, str]) -> None:
    assert parse_host_option(item) == parsed


@pytest.mark.parametrize(
    ("item", "message", "hint"),
    [
        (
            "sepm=198.18.2.2",
            "--host 'sepm=198.18.2.2': unknown role 'sepm'",
            "ROLE one of: manager,",
        ),
        ("manager", "--host 'manager': no host", "write --host ROLE=HOST"),
        ("manager=  ", "--host 'manager=  ': no host", "write --host ROLE=HOST"),
    ],
)
def test_bad_host_option(item: str, message: str, hint: str) -> None:
    error = usage_error(CheckOptions(as_roles=(Role.CLIENT,), extra_hosts=(item,)))
    assert error.message == message
    assert error.hint is not None
    assert hint in error.hint


def test_host_option_adds_to_the_role_options() -> None:
    options = replace(QUICK, extra_hosts=("manager=198.18.2.3", "gup=198.18.1.20"))
    job, _ = build(options)
    hosts = {p.host for p in job.plan.probes()}
    assert hosts == {"198.18.2.2", "198.18.2.3", "198.18.1.20"}


def test_nothing_to_check_and_mixed_topology(tmp_path: Path) -> None:
    error = usage_error(CheckOptions(as_roles=(Role.CLIENT,)))
    assert error.message.startswith("nothing to check: give --topology FILE")
    site = tmp_path / "site.toml"
    site.write_text('[roles.manager]\nhosts = ["198.18.2.2"]\n')
    error = usage_error(replace(QUICK, topology_path=site))
    assert "cannot be mixed with --topology" in error.message
    job, _ = build(CheckOptions(topology_path=site, as_roles=(Role.CLIENT,)))
    assert job.topology_path == site
    assert job.plan.total == 7


def test_site_settings_are_named_by_their_option() -> None:
    error = usage_error(replace(QUICK, management_server_list=("ftp",)))
    assert error.message == "--management-server-list: unknown value 'ftp'"
    error = usage_error(replace(QUICK, features=("nope",)))
    assert error.message == "--feature: unknown feature 'nope'"


def test_raw_mode() -> None:
    denied = FakeMachine(raw_problem=("raw sockets need root", "run as root"))
    error = usage_error(replace(QUICK, mode=ProbeMode.RAW), denied)
    assert (error.message, error.hint) == ("--mode raw: raw sockets need root", "run as root")
    job, _ = build(replace(QUICK, mode=ProbeMode.AUTO), denied)
    assert job.raw is False
    machine = FakeMachine()
    job, _ = build(replace(QUICK, mode=ProbeMode.AUTO), machine)
    assert job.raw is True
    assert job.backend == choose_backend(True)
    assert machine.asked == ["allowed?"]
    machine = FakeMachine()
    build(QUICK, machine)
    assert machine.asked == []  # connect mode never asks


def test_inferred_role_is_said() -> None:
    machine = FakeMachine(inferred=Vantage((Role.CLIENT,), inferred=True, evidence="198.18.16.5"))
    job, said = build(replace(QUICK, as_roles=()), machine)
    assert job.vantage.inferred
    assert said == ["sepcheck: role inferred from this host: 198.18.16.5"]


def test_checks_run_in_their_order(tmp_path: Path) -> None:
    """Of several mistakes, the one said first is the one the command always said first:
    the raw-mode check, the numbers, the reports folder, the baseline, the topology, the
    report files last."""
    bad = CheckOptions(
        mode=ProbeMode.RAW,
        rate=0.01,
        output_dir=tmp_path / "missing",
        baseline=Path("previous"),
        outputs=(tmp_path / "r.txt",),
    )
    denied = FakeMachine(raw_problem=("no", "root"))
    messages = []
    for options in (
        bad,
        replace(bad, mode=ProbeMode.CONNECT),
        replace(bad, mode=ProbeMode.CONNECT, rate=1.0),
        replace(bad, mode=ProbeMode.CONNECT, rate=1.0, output_dir=None),
        replace(bad, mode=ProbeMode.CONNECT, rate=1.0, output_dir=None, baseline=None),
        replace(QUICK, outputs=bad.outputs),
    ):
        messages.append(usage_error(options, denied).message.split(":")[0])
    assert messages == [
        "--mode raw",
        "--rate",
        "--output-dir",
        "--baseline previous needs --output-dir DIR",
        "nothing to check",
        f"--output {tmp_path / 'r.txt'}",
    ]


def flows_of(job: CheckJob) -> set[str]:
    return {flow.entry.id for flow in job.plan.flows}


def test_sep_version_auto_plans_with_the_version_the_manager_gives() -> None:
    auto = replace(QUICK, as_roles=(Role.SPC, Role.REMOTE_CONSOLE), sep_version="auto")
    old = FakeMachine(answer="12.1.7454.7000")
    job, said = build(auto, old)
    (query,) = old.queries
    assert (query.hosts, query.port) == (["198.18.2.2"], 8446)
    assert "spc-manager-webservices" in flows_of(job)
    assert "remote_console-manager-webservices" not in flows_of(job)
    assert job.detected is not None
    assert job.detected.version == "12.1.7454.7000"
    assert job.detected.source == "https://198.18.2.2:8446/sepm/api/v1/version"
    assert any("read from the manager 198.18.2.2" in note for note in job.plan.notes)
    assert any("12.1.7454.7000" in line for line in said)
    job, _ = build(auto, FakeMachine(answer="14.3.9816.7000"))
    assert "remote_console-manager-webservices" in flows_of(job)
    assert "spc-manager-webservices" not in flows_of(job)
    assert job.apps is not None
    assert job.apps.versions == {"198.18.2.2": "14.3.9816.7000"}


def test_sep_version_auto_without_an_answer_plans_every_version() -> None:
    auto = replace(QUICK, as_roles=(Role.SPC, Role.REMOTE_CONSOLE), sep_version="auto")
    job, _said = build(auto, FakeMachine(answer=None))
    assert {"spc-manager-webservices", "remote_console-manager-webservices"} <= flows_of(job)
    assert job.detected is not None
    assert job.detected.version is None
    assert "no answer within 1.5 s" in job.detected.source
    notes = [n for n in job.plan.notes if "every SEP version" in n]
    assert len(notes) == 1
    assert "198.18.2.2: no answer" in notes[0]


def test_a_given_version_asks_no_manager_and_no_app_turns_checks_off() -> None:
    machine = FakeMachine()
    job, _ = build(replace(QUICK, sep_version="14.3 RU8"), machine)
    assert machine.queries == []
    assert job.detected is None
    assert job.apps is not None
    assert job.apps.checks["client-manager-http"].name == "secars-hello"
    job, _ = build(replace(QUICK, app_checks=False), machine)
    assert job.apps is None
