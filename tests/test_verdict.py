from __future__ import annotations

import pytest

from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.plan import Probe
from sepcheck.results import ProbeResult, Stage, State, Verdict
from sepcheck.verdict import FAILING_HOSTS_SHOWN, FlowSummary, judge


def result(
    state: State,
    expect: Expect = Expect.REACHABLE,
    severity: Severity = Severity.FAIL,
    host: str = "198.18.2.2",
) -> ProbeResult:
    probe = Probe(
        "client-manager-http",
        Role.CLIENT,
        Role.MANAGER,
        host,
        host,
        host,
        Protocol.TCP,
        8014,
        expect,
        severity,
    )
    return ProbeResult(probe, host, state, "r", None, None, 1, "r")


OP, PRE = Stage.OPERATIONAL, Stage.PRE_INSTALL
R, U = Expect.REACHABLE, Expect.UNREACHABLE


@pytest.mark.parametrize(
    ("expect", "state", "stage", "verdict"),
    [
        (R, State.OPEN, OP, Verdict.PASS),
        (R, State.REFUSED, OP, Verdict.FAIL),
        (R, State.REFUSED, PRE, Verdict.WARN),
        (R, State.FILTERED, OP, Verdict.FAIL),
        (R, State.FILTERED, PRE, Verdict.FAIL),
        (R, State.OPEN_FILTERED, OP, Verdict.WARN),
        (R, State.UNRESOLVED, OP, Verdict.FAIL),
        (U, State.OPEN, OP, Verdict.FAIL),
        (U, State.OPEN, PRE, Verdict.FAIL),
        (U, State.REFUSED, OP, Verdict.PASS),
        (U, State.FILTERED, OP, Verdict.PASS),
        (U, State.OPEN_FILTERED, OP, Verdict.PASS),
        (U, State.UNRESOLVED, OP, Verdict.WARN),
    ],
)
def test_verdict_table(expect: Expect, state: State, stage: Stage, verdict: Verdict) -> None:
    assert judge(result(state, expect), stage)[0] is verdict


def test_pre_install_note_and_severity_warn() -> None:
    assert judge(result(State.REFUSED), PRE) == (Verdict.WARN, "path open, nothing listening")
    verdict, note = judge(result(State.OPEN, U, Severity.WARN), OP)
    assert verdict is Verdict.WARN
    assert note


def test_flow_summary_keeps_the_worst_and_caps_hosts() -> None:
    summary = FlowSummary("client-manager-http")
    summary.add(result(State.OPEN), Verdict.PASS, "")
    for i in range(25):
        summary.add(result(State.FILTERED, host=f"198.18.3.{i}"), Verdict.FAIL, "")
    summary.add(result(State.OPEN_FILTERED), Verdict.WARN, "")
    assert summary.verdict is Verdict.FAIL
    assert summary.total == 27
    assert summary.states == {"open": 1, "filtered": 25, "open|filtered": 1}
    assert len(summary.examples) == FAILING_HOSTS_SHOWN
    assert summary.worst_count == 25
    assert all(v is Verdict.FAIL for _, v, _ in summary.examples)


@pytest.mark.parametrize("reason", ["forged-reset", "forged-port-unreach"])
def test_forged_refusal_is_judged_as_filtered(reason: str) -> None:
    forged = result(State.REFUSED)
    forged = ProbeResult(forged.probe, forged.address, State.REFUSED, reason, None, None, 1, "")
    # Before installation a genuine refusal proves the path (warn); a forged one does not.
    assert judge(result(State.REFUSED), PRE)[0] is Verdict.WARN
    verdict, note = judge(forged, PRE)
    assert verdict is Verdict.FAIL
    assert "firewall" in note
    # Must-not-reach: blocked by a firewall is what was wanted.
    blocked = ProbeResult(
        result(State.REFUSED, U).probe, "198.18.2.2", State.REFUSED, reason, None, None, 1, ""
    )
    assert judge(blocked, OP) == (Verdict.PASS, "")


def test_a_warning_says_what_to_verify() -> None:
    exposed = result(State.OPEN, U, Severity.WARN)
    verdict, note = judge(exposed, OP, "check the manager's firewall")
    assert verdict is Verdict.WARN
    assert note == "reachable, must not be: check the manager's firewall"
    # A failure that is a failure says nothing of what to verify.
    assert judge(result(State.OPEN, U), OP, "check the manager's firewall") == (
        Verdict.FAIL,
        "reachable, must not be",
    )
