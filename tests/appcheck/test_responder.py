"""The prober's reading of a sepcheck responder (``appcheck/responder.py``), against the
real responder (``sepcheck.listen``) on loopback: what a probe's result becomes, and the
verdict it gets. Only 127.0.0.1 and ports the kernel chose."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

from sepcheck.appcheck import responder
from sepcheck.appcheck.finding import AppFinding
from sepcheck.appcheck.responder import ResponderPlan
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.plan import Probe
from sepcheck.results import ProbeResult, Stage, State, Verdict
from sepcheck.verdict import judge
from tests.listen.helpers import KEY, OTHER_KEY, running

HOST = "127.0.0.1"


def result(protocol: Protocol, port: int, state: State) -> ProbeResult:
    probe = Probe(
        "f", Role.MANAGER, Role.SYSLOG, HOST, HOST, HOST, protocol, port,
        Expect.REACHABLE, Severity.FAIL,
    )  # fmt: skip
    return ProbeResult(probe, HOST, state, "r", None, 1.0, 1, "d")


def plan(*ports: int, key: bytes = KEY) -> ResponderPlan:
    return ResponderPlan(key, "fp", ports)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def confirm(got: ProbeResult, ports: ResponderPlan) -> ProbeResult:
    async with asyncio.timeout(10):
        return await responder.check(got, ports, wait=0.3)


def app(done: ProbeResult) -> AppFinding:
    assert done.app is not None
    return done.app


async def test_tcp_answered_by_the_responder_passes() -> None:
    async with running() as r:
        done = await confirm(result(Protocol.TCP, r.tcp, State.OPEN), plan(r.tcp))
    assert app(done).ok is True
    assert app(done).detail == f"sepcheck responder on {HOST}"
    assert str(app(done).read["seen_as"]).startswith(f"{HOST}:")
    assert "nat" not in app(done).read
    assert judge(done, Stage.PRE_INSTALL) == (Verdict.PASS, "")


async def test_udp_answered_becomes_open() -> None:
    async with running() as r:
        done = await confirm(result(Protocol.UDP, r.udp, State.OPEN_FILTERED), plan(r.tcp))
    assert (done.state, done.reason) == (State.OPEN, "responder-reply")
    assert judge(done, Stage.PRE_INSTALL)[0] is Verdict.PASS


async def test_another_token_is_never_answered() -> None:
    async with running() as r:
        done = await confirm(
            result(Protocol.UDP, r.udp, State.OPEN_FILTERED), plan(r.tcp, key=OTHER_KEY)
        )
    # Nothing answered and no query was answered either: cannot tell, state unchanged.
    assert done.state is State.OPEN_FILTERED
    assert app(done).ok is None


async def test_a_port_another_service_holds_is_said_so_not_failed() -> None:
    """A listener that is not the responder completes the handshake and closes; the query
    on the responder's own TCP port says it does not listen there: another service holds
    the port (a note). The other reading, where the responder does listen there (a device
    on the path answered for it), needs two hosts: tests/lab/test_responder.py."""
    async with running() as r:
        impostor = await asyncio.start_server(lambda _r, w: w.close(), HOST, 0)
        fake = impostor.sockets[0].getsockname()[1]
        async with impostor:
            done = await confirm(result(Protocol.TCP, fake, State.OPEN), plan(r.tcp))
    # The responder does not listen on ``fake``: another service holds the port.
    assert app(done).ok is None
    assert "another service holds tcp/" in app(done).detail
    assert judge(done, Stage.OPERATIONAL)[0] is Verdict.PASS


async def test_udp_silence_with_the_responder_listening_is_filtered() -> None:
    async with running() as r:
        # Datagrams to a closed UDP port draw port unreachable: a refusal, not silence.
        closed = free_port(socket.SOCK_DGRAM)
        refused = await confirm(result(Protocol.UDP, closed, State.OPEN_FILTERED), plan(r.tcp))
    assert app(refused).read.get("failure") == "connect"


def test_verdicts_of_the_responders_findings() -> None:
    base = result(Protocol.TCP, 8014, State.OPEN)
    middlebox = replace(
        base, app=AppFinding(responder.CHECK, responder.SERVICE, False, "a device ...", {})
    )
    assert judge(middlebox, Stage.PRE_INSTALL) == (Verdict.FAIL, "a device ...")
    one_way = replace(
        base,
        probe=replace(base.probe, protocol=Protocol.UDP),
        app=AppFinding(
            responder.CHECK, responder.SERVICE, False, "one-way: ...", {"one_way": True}
        ),
    )
    assert judge(one_way, Stage.PRE_INSTALL) == (Verdict.WARN, "one-way: ...")
    unsure = replace(base, app=AppFinding(responder.CHECK, responder.SERVICE, None, "x", {}))
    assert judge(unsure, Stage.PRE_INSTALL) == (Verdict.PASS, "not confirmed by a responder")
