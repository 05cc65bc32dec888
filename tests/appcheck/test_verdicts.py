"""Verdicts refined by an application check: another service fails a flow that needs the
service, a check that cannot tell is a note, a certificate close to expiry warns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sepcheck.appcheck.finding import AppFinding
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.net.app.facts import TlsFacts
from sepcheck.plan import Probe
from sepcheck.results import ProbeResult, Stage, State, Verdict
from sepcheck.verdict import FlowSummary, judge, judge_alternatives

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
    assert note == "SEPM not confirmed"


def test_a_healthy_answer_passes_without_a_note() -> None:
    assert judge(result(finding(True, days=400)), OP) == (Verdict.PASS, "")


@pytest.mark.parametrize(
    ("days", "limit", "verdict", "words"),
    [
        (12.4, 30, Verdict.WARN, "TLS certificate expires in 12 days"),
        (0.4, 30, Verdict.WARN, "TLS certificate expires in less than a day"),
        (29.9, 30, Verdict.WARN, "expires in 30 days"),
        (31, 30, Verdict.PASS, ""),
        (12.5, 10, Verdict.PASS, ""),
        (-3.4, 30, Verdict.FAIL, "TLS certificate expired 3 days ago"),
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


def test_another_service_on_a_must_not_reach_port_is_the_exposure_not_a_wrong_service() -> None:
    exposed = result(finding(False, "HTTP 404 from nginx"), expect=Expect.UNREACHABLE)
    assert judge(exposed, OP) == (Verdict.FAIL, "reachable, must not be")


def test_before_installation_another_service_only_warns() -> None:
    verdict, note = judge(result(finding(False, "HTTP 404 from nginx")), Stage.PRE_INSTALL)
    assert (verdict, note) == (Verdict.WARN, "open but not SEPM: HTTP 404 from nginx")


def members(https: AppFinding | None, http_state: State = State.OPEN) -> list[ProbeResult]:
    """client-manager-http and client-manager-https of one host, alternatives."""
    base = result(None, http_state)
    http = replace(base, probe=replace(base.probe, flow="client-manager-http", port=8014))
    secure = replace(result(https), probe=replace(base.probe, flow="client-manager-https"))
    return [http, secure]


@pytest.mark.parametrize(
    ("https", "verdict", "words"),
    [
        (finding(True, days=400), Verdict.PASS, ""),
        (finding(True, days=10), Verdict.WARN, "TLS certificate expires in 10 days"),
        (finding(True, days=-2), Verdict.FAIL, "TLS certificate expired 2 days ago"),
        (finding(False, "HTTP 404 from nginx"), Verdict.FAIL, "open but not SEPM"),
    ],
)
def test_a_working_alternative_does_not_hide_what_a_check_found(
    https: AppFinding, verdict: Verdict, words: str
) -> None:
    """8014 works; what 443's check found (an expiring certificate, another service) is
    still its own verdict, not carried away by the alternative."""
    _, secure = judge_alternatives(members(https), OP, complete=True)
    assert secure.verdict is verdict
    assert secure.carried is False
    assert words in secure.note if words else secure.note == ""


def test_a_member_that_cannot_tell_still_gives_way() -> None:
    _, secure = judge_alternatives(members(finding(None, "no answer")), OP, complete=True)
    assert (secure.verdict, secure.carried) == (Verdict.PASS, False)


def test_the_collector_judges_with_the_runs_warning_window(tmp_path: Path) -> None:
    from sepcheck.catalogue import load_catalogue
    from sepcheck.plan import Vantage, build_plan
    from sepcheck.report.collect import Collector
    from sepcheck.topology import topology_from_hosts

    catalogue = load_catalogue()
    topology = topology_from_hosts(
        {Role.MANAGER: ["sepm"]}, catalogue, sep_version="14.3 RU8",
        management_server_list=["https"],
    )  # fmt: skip
    plan = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    twelve = result(finding(True, days=12))
    for window, verdict in ((30, Verdict.WARN), (5, Verdict.PASS)):
        collector = Collector(plan, OP, tmp_path, cert_warn_days=window)
        try:
            collector.add(twelve)
            assert collector.flows["client-manager-https"].verdict is verdict
        finally:
            collector.close()
