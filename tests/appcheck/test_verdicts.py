"""Verdicts refined by an application check: another service fails a flow that needs the
service, a check that cannot tell is a note, a certificate close to expiry warns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sepcheck.appcheck.finding import AppFinding
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.net.app.facts import TlsFacts
from sepcheck.plan import Probe
from sepcheck.results import ProbeResult, Stage, State, Verdict
from sepcheck.verdict import FlowSummary, judge

OP = Stage.OPERATIONAL


def result(
    app: AppFinding | None, state: State = State.OPEN, expect: Expect = Expect.REACHABLE
) -> ProbeResult:
    probe = Probe(
        "client-manager-https", Role.CLIENT, Role.MANAGER, "sepm", "sepm", "sepm",
        Protocol.TCP, 443, expect, Severity.FAIL,
    )  # fmt: skip
    return ProbeResult(probe, "198.18.2.2", state, "syn-ack", None, 1.0, 1, "connected", app=app)


def tls(days: float) -> TlsFacts:
    now = datetime.now(UTC)
    return TlsFacts(
        "TLSv1.3", "c", "CN=sepm", "CN=sepm", True, "RSA", 2048, "00",
        now - timedelta(days=300), now + timedelta(days=days),
    )  # fmt: skip


def finding(ok: bool | None, detail: str = "d", days: float | None = None) -> AppFinding:
    return AppFinding("secars-hello-https", "SEPM", ok, detail, {}, tls(days) if days else None)


def test_another_service_fails_the_flow() -> None:
    verdict, note = judge(result(finding(False, "HTTP 404 from nginx")), OP)
    assert (verdict, note) == (Verdict.FAIL, "open but not SEPM: HTTP 404 from nginx")


def test_a_check_that_cannot_tell_is_a_note_never_a_failure() -> None:
    verdict, note = judge(result(finding(None, "no complete answer within 1.5 s")), OP)
    assert verdict is Verdict.PASS
    assert note == "SEPM not confirmed: no complete answer within 1.5 s"


def test_a_healthy_answer_passes_without_a_note() -> None:
    assert judge(result(finding(True, days=400)), OP) == (Verdict.PASS, "")


@pytest.mark.parametrize(
    ("days", "limit", "verdict", "words"),
    [
        (12.5, 30, Verdict.WARN, "TLS certificate expires in 12 days"),
        (0.5, 30, Verdict.WARN, "TLS certificate expires in less than a day"),
        (29.9, 30, Verdict.WARN, "expires in 29 days"),
        (31, 30, Verdict.PASS, ""),
        (12.5, 10, Verdict.PASS, ""),
        (-3.5, 30, Verdict.FAIL, "TLS certificate expired 3 days ago"),
    ],
)
def test_certificate_expiry(days: float, limit: float, verdict: Verdict, words: str) -> None:
    got, note = judge(result(finding(True, days=days)), OP, cert_warn_days=limit)
    assert got is verdict
    assert words in note if words else note == ""


def test_a_must_not_reach_flow_stays_failed_and_says_what_answers() -> None:
    exposed = result(finding(True, "SQL Server 2019 (15.0.2000), encryption off"))
    exposed = replace(exposed, probe=replace(exposed.probe, expect=Expect.UNREACHABLE))
    verdict, note = judge(exposed, OP)
    assert verdict is Verdict.FAIL
    assert note == "reachable, must not be"


def test_only_an_open_result_is_refined() -> None:
    # A refused port never had a check; a finding there (none is made) changes nothing.
    assert judge(result(finding(False), State.REFUSED), OP)[0] is Verdict.FAIL
    assert judge(result(finding(False), State.REFUSED), Stage.PRE_INSTALL)[0] is Verdict.WARN


def test_flow_summary_counts_the_outcomes() -> None:
    summary = FlowSummary("f")
    for ok in (True, True, False, None):
        summary.add(result(finding(ok)), Verdict.PASS, "")
    summary.add(result(None), Verdict.PASS, "")
    assert dict(summary.app) == {"ok": 2, "wrong": 1, "unknown": 1}
    other = FlowSummary("f")
    other.add(result(finding(False)), Verdict.FAIL, "")
    summary.merge(other)
    assert summary.app["wrong"] == 2
