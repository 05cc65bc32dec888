"""The collector's judgement across flows: alternatives per host, one probe judged for
several flows, and what an interrupted run keeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.model import Role
from sepcheck.plan import Plan, Probe, Vantage, build_plan
from sepcheck.report.collect import Collector
from sepcheck.report.model import ReportHead, TopologyRef, VantageInfo
from sepcheck.results import ProbeResult, Stage, State, Verdict
from sepcheck.topology import load_topology
from tests.test_report import run_parameters

Write = Callable[[str, str], Path]

SITE = """sep_version = "14.3 RU8"
[roles.manager]
hosts = ["198.18.2.2", "198.18.2.3"]
"""


def _plan(write: Write, catalogue: Catalogue, *roles: Role, text: str = SITE) -> Plan:
    return build_plan(catalogue, load_topology(write("site.toml", text), catalogue), Vantage(roles))


@pytest.fixture
def collect(tmp_path: Path) -> Iterator[Callable[[Plan, Stage], Collector]]:
    """Opens collectors for a plan; each is closed (spools removed) however the test ends."""
    collectors: list[Collector] = []

    def open_one(plan: Plan, stage: Stage = Stage.OPERATIONAL) -> Collector:
        collectors.append(Collector(plan, stage, tmp_path))
        return collectors[-1]

    yield open_one
    for collector in collectors:
        collector.close()


def _result(probe: Probe, state: State) -> ProbeResult:
    return ProbeResult(probe, probe.address, state, state.value, None, None, 1, state.value)


def _finish(collector: Collector, complete: bool = True) -> ReportHead:
    return collector.finish(
        complete=complete,
        duration=1.0,
        tool_version="test",
        vantage=VantageInfo(hostname="h", role=["client"], inferred=False, local_addresses=[]),
        topology=TopologyRef(path=None, sha256="0"),
        parameters=run_parameters(),
    )


def _spooled(collector: Collector) -> list[dict[str, Any]]:
    collector.spool.flush()
    return [json.loads(line) for line in collector.spool_path.read_text().splitlines()]


def test_one_working_alternative_passes_its_host_only(
    write: Write, catalogue: Catalogue, collect: Callable[..., Collector]
) -> None:
    plan = _plan(write, catalogue, Role.CLIENT)
    collector = collect(plan)
    states = {
        ("198.18.2.2", 8014): State.OPEN,  # this manager answers HTTP only
        ("198.18.2.2", 443): State.REFUSED,
        ("198.18.2.3", 8014): State.FILTERED,  # this one answers nothing
        ("198.18.2.3", 443): State.REFUSED,
    }
    for probe in plan.probes():
        collector.add(_result(probe, states.get((probe.host, probe.port), State.REFUSED)))
    head = _finish(collector)
    records = {(r["flow"], r["host"]): r for r in _spooled(collector)}
    https_ok = records[("client-manager-https", "198.18.2.2")]
    assert https_ok["verdict"] == "pass"
    assert https_ok["state"] == "refused"  # the facts stay as measured
    assert https_ok["note"].startswith("not needed: client-manager-http (tcp/8014) works")
    assert https_ok["group"] == "client-manager"
    for flow in ("client-manager-http", "client-manager-https"):
        broken = records[(flow, "198.18.2.3")]
        assert broken["verdict"] == "fail"
        assert broken["note"].endswith("no alternative works either")
    [group] = head.summary.groups
    assert group.verdict is Verdict.FAIL
    assert group.note == (
        "some hosts reach no alternative; works through client-manager-http (tcp/8014) for "
        "1 of 2 hosts"
    )
    assert head.verdict is Verdict.FAIL


def test_an_interrupted_run_keeps_an_alternative_that_waited(
    write: Write, catalogue: Catalogue, collect: Callable[..., Collector]
) -> None:
    plan = _plan(write, catalogue, Role.CLIENT)
    collector = collect(plan)
    first = next(p for p in plan.probes() if p.port == 8014)
    collector.add(_result(first, State.OPEN))
    assert _spooled(collector) == []  # waiting for its alternative on that host
    head = _finish(collector, complete=False)
    [record] = _spooled(collector)
    assert (record["flow"], record["verdict"]) == ("client-manager-http", "pass")
    assert head.summary.probes == 1


def test_a_lone_failing_member_says_its_alternatives_were_not_measured(
    write: Write, catalogue: Catalogue, collect: Callable[..., Collector]
) -> None:
    plan = _plan(write, catalogue, Role.CLIENT)
    collector = collect(plan)
    first = next(p for p in plan.probes() if p.port == 8014)
    collector.add(_result(first, State.FILTERED))
    collector.export()  # a worker's end judges what waits
    [record] = [json.loads(line) for line in collector.spool_path.read_text().splitlines()]
    assert record["verdict"] == "fail"
    assert "alternatives were not measured (run interrupted)" in record["note"]


def test_a_shared_probe_is_judged_for_every_flow(
    write: Write, catalogue: Catalogue, collect: Callable[..., Collector]
) -> None:
    text = '[roles.manager]\nhosts = ["198.18.2.2"]\n'
    plan = _plan(write, catalogue, Role.CLIENT, Role.REMOTE_CONSOLE, text=text)
    collector = collect(plan)
    launcher = next(p for p in plan.probes() if p.port == 8447)
    assert launcher.also == ("remote_console-manager-launcher-exposure",)
    collector.add(_result(launcher, State.OPEN))
    records = _spooled(collector)
    assert [(r["flow"], r["source"], r["verdict"]) for r in records] == [
        ("client-manager-launcher-exposure", "client", "warn"),
        ("remote_console-manager-launcher-exposure", "remote_console", "warn"),
    ]
    assert collector.count == 1
    assert collector.verdicts == {"warn": 2}


def test_before_installation_an_open_path_carries_its_alternatives(
    write: Write, catalogue: Catalogue, collect: Callable[..., Collector]
) -> None:
    """Pre-install: 8014 refused proves its path open (WARN); 443 blocked is then not a
    failure of the client's path to the manager."""
    text = '[roles.manager]\nhosts = ["198.18.2.2"]\n'
    plan = _plan(write, catalogue, Role.CLIENT, text=text)
    collector = collect(plan, Stage.PRE_INSTALL)
    for probe in plan.probes():
        state = State.FILTERED if probe.port == 443 else State.REFUSED
        collector.add(_result(probe, state))
    records = {r["flow"]: r for r in _spooled(collector)}
    assert records["client-manager-http"]["verdict"] == "warn"
    assert records["client-manager-https"]["verdict"] == "warn"
    assert records["client-manager-https"]["note"] == (
        "not needed: client-manager-http (tcp/8014) is the better alternative (path open, "
        "nothing listening)"
    )
    [group] = _finish(collector).summary.groups
    assert (group.verdict, group.note) == (
        Verdict.WARN,
        "no alternative passes; the best one for each host only warns (see its note)",
    )
