"""The runner hands every open result on exactly once, with its finding, whatever the
check does: answer, hang past the timeout, fail with a bug, or get interrupted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sepcheck.appcheck import interpret
from sepcheck.appcheck.definitions import CheckDef, load_app_checks
from sepcheck.appcheck.finding import AppFinding
from sepcheck.appcheck.runner import AppPlan, AppRunner
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.plan import Probe
from sepcheck.results import ProbeResult, State


def secars() -> CheckDef:
    found = load_app_checks().find(Role.MANAGER, Protocol.TCP, 8014)
    assert found is not None
    return found


SECARS = secars()


def result(host: str, state: State = State.OPEN, flow: str = "client-manager-http") -> ProbeResult:
    probe = Probe(
        flow, Role.CLIENT, Role.MANAGER, host, host, host, Protocol.TCP, 8014,
        Expect.REACHABLE, Severity.FAIL,
    )  # fmt: skip
    return ProbeResult(probe, host, state, "syn-ack", None, 1.0, 1, "connected")


def runner(added: list[ProbeResult], timeout: float = 5.0, concurrency: int = 16) -> AppRunner:
    plan = AppPlan({"client-manager-http": SECARS}, timeout, "ua", {}, concurrency)
    return AppRunner(plan, added.append)


def fake(monkeypatch: pytest.MonkeyPatch, behaviour: Any) -> None:
    monkeypatch.setattr(interpret, "run", behaviour)


async def test_results_without_a_check_are_not_taken() -> None:
    added: list[ProbeResult] = []
    apps = runner(added)
    assert not apps.take(result("a", State.REFUSED))
    assert not apps.take(result("a", flow="client-gup-proxy"))
    assert apps.pending == 0
    assert added == []


async def test_an_answer_is_attached_and_handed_on_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def answer(check: Any, host: str, address: str, port: int, **_: Any) -> AppFinding:
        return AppFinding(check.name, "SEPM", True, f"{host}:{port}")

    fake(monkeypatch, answer)
    added: list[ProbeResult] = []
    apps = runner(added)
    assert apps.take(result("a"))
    assert added == []  # held until its check ends
    await apps.drain()
    assert [(r.probe.host, r.app and r.app.detail) for r in added] == [("a", "a:8014")]


async def test_a_hanging_server_ends_at_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(*_: Any, **__: Any) -> AppFinding:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    fake(monkeypatch, hang)
    added: list[ProbeResult] = []
    apps = runner(added, timeout=0.05)
    apps.take(result("a"))
    await asyncio.wait_for(apps.drain(), 5)
    (only,) = added
    assert only.app is not None
    assert only.app.ok is None
    assert only.app.detail == "no complete answer within 0.05 s"


async def test_a_bug_in_a_client_keeps_the_measured_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def bug(*_: Any, **__: Any) -> AppFinding:
        raise ValueError("bad parse")

    fake(monkeypatch, bug)
    added: list[ProbeResult] = []
    apps = runner(added)
    apps.take(result("a"))
    await apps.drain()
    (only,) = added
    assert only.state is State.OPEN
    assert only.app is not None
    assert only.app.ok is None
    assert "ValueError: bad parse" in only.app.detail


async def test_an_interrupt_hands_every_pending_result_on_marked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inside = 0
    most = 0

    async def slow(*_: Any, **__: Any) -> AppFinding:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        try:
            await asyncio.sleep(3600)
        finally:
            inside -= 1
        raise AssertionError("unreachable")

    fake(monkeypatch, slow)
    added: list[ProbeResult] = []
    apps = runner(added, concurrency=2)
    for host in "abcde":
        apps.take(result(host))
    await asyncio.sleep(0.05)
    assert most == 2  # the concurrency cap holds
    await asyncio.wait_for(apps.abandon(), 5)
    assert sorted(r.probe.host for r in added) == list("abcde")
    assert all(r.app and r.app.detail == "not finished: the run was interrupted" for r in added)
    assert apps.pending == 0
