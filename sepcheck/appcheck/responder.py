"""`check --responder-token`: what a sepcheck responder (`sepcheck listen`) on the target
confirms about a probe, in the report's words.

After a probe, the prober talks to the responder with the run's token
(``net/beacon_client``):

- TCP open: a hello. Answered: the responder itself accepted the connection (and the
  source it saw tells NAT). Not answered: a query on another port where the responder
  answers says whether it listens on this one: it does, so a device on the path completed
  the handshake for the host (a SYN proxy, a firewall); it does not (a real service holds
  the port), so that service answered.
- UDP open or open|filtered: a token datagram (up to three, a new nonce each). Answered:
  open. Not answered: a query over TCP says whether the responder received it: it did, so
  the path is one-way (its answers do not come back); it did not while it listens there,
  so the datagrams are filtered on the way.

The finding travels as the result's ``app`` (check ``sepcheck-responder``), so the reports,
the matrix and the metrics show it like an application check; ``verdict.py`` judges it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sepcheck.appcheck.finding import AppFinding, Scalar
from sepcheck.model import Protocol
from sepcheck.net.app.facts import AppFailure, FailureKind

if TYPE_CHECKING:
    from sepcheck.net.beacon_client import Answer
from sepcheck.results import ProbeResult, State

CHECK = "sepcheck-responder"
SERVICE = "sepcheck responder"
UDP_TRIES = 3


@dataclass(frozen=True)
class ResponderPlan:
    """The responder side of a run: the token's key, and the TCP ports of each
    destination where a query can reach the responder (the plan's TCP flows to it)."""

    key: bytes
    fingerprint: str
    query_ports: Sequence[int]


def _finding(ok: bool | None, detail: str, read: dict[str, Scalar]) -> AppFinding:
    return AppFinding(CHECK, SERVICE, ok, detail, read)


DEADLINE_TRIES = UDP_TRIES + 2
"""A responder check takes at most this many probe timeouts (the UDP tries, then queries)."""


async def check(
    result: ProbeResult, plan: ResponderPlan, wait: float, answered: Sequence[int] = ()
) -> ProbeResult:
    """The result as the responder on its host makes it (the caller bounds the time);
    ``answered``: TCP ports of this address where the responder already answered, asked
    first (a filtered port tried first would spend the whole deadline)."""
    assert result.address is not None
    ports = ResponderPlan(plan.key, plan.fingerprint, (*answered, *plan.query_ports))
    if result.probe.protocol is Protocol.TCP:
        return await _tcp(result, ports, wait)
    return await _udp(result, ports, wait)


async def _tcp(result: ProbeResult, plan: ResponderPlan, wait: float) -> ProbeResult:
    from sepcheck.net.beacon import new_nonce
    from sepcheck.net.beacon_client import Translation, tcp_hello

    address, port, host = result.address or "", result.probe.port, result.probe.host
    nonce = new_nonce()
    try:
        try:
            # Bounded on its own: a SYN proxy completes the handshake and then nothing
            # answers; the query that tells it apart needs time left.
            async with asyncio.timeout(wait):
                hello = await tcp_hello(address, port, plan.key, nonce)
        except TimeoutError:
            raise AppFailure(
                FailureKind.CLOSED,
                f"the handshake completed, then no reply within {wait:g} s",
            ) from None
    except AppFailure as failure:
        return replace(result, app=await _unanswered(result, plan, nonce, failure, wait))
    read: dict[str, Scalar] = {
        "seen_as": str(hello.seen_as),
        "sent_from": str(hello.sent_from),
    }
    detail = f"sepcheck responder on {host}"
    if hello.translation is Translation.ADDRESS:
        read["nat"] = "address"
        detail += f"; NAT: it saw {hello.seen_as}, this host sent from {hello.sent_from}"
    elif hello.translation is Translation.PORT:
        read["nat"] = "port"
        detail += f"; source port translated ({hello.sent_from.port} -> {hello.seen_as.port})"
    return replace(result, app=_finding(True, detail, read))


async def _unanswered(
    result: ProbeResult, plan: ResponderPlan, nonce: bytes, failure: AppFailure, wait: float
) -> AppFinding:
    """A completed handshake without the responder's reply, read through a query: the
    responder never received the hello though it listens on the port (a device on the
    path answered for the host: a failure), or it did (its reply was lost, or it was over
    its limits), or another service holds the port."""
    address, port, host = result.address or "", result.probe.port, result.probe.host
    answer = await _ask(address, port, nonce, plan, udp=False, wait=wait)
    read: dict[str, Scalar] = {"failure": failure.kind.value}
    if answer is None:
        return _finding(None, f"no sepcheck responder answered ({failure.detail})", read)
    read["listening"] = bool(answer.listening)
    if answer.seen:
        why = f"the responder on {host} received the hello, its reply did not come back" + (
            " (it was over its limits)" if answer.busy else ""
        )
        return _finding(None, why, read)
    if not answer.listening:
        return _finding(
            None,
            f"another service holds tcp/{port} on {host} (the responder could not listen there)",
            read,
        )
    if answer.busy:
        why = f"the responder on {host} was at its limits and may have refused the connection"
        return _finding(None, why, read)
    why = (
        f"a device on the path completed the handshake: the responder on {host} listens on "
        f"tcp/{port} and never received the connection ({failure.detail})"
    )
    return _finding(False, why, read)


async def _udp(result: ProbeResult, plan: ResponderPlan, wait: float) -> ProbeResult:
    from sepcheck.net.beacon_client import Translation, udp_exchange

    address, port, host = result.address or "", result.probe.port, result.probe.host
    nonces: list[bytes] = []
    for _ in range(UDP_TRIES):
        try:
            sent = await udp_exchange(address, port, plan.key, wait)
        except AppFailure as failure:
            read: dict[str, Scalar] = {"failure": failure.kind.value}
            return replace(result, app=_finding(None, failure.detail, read))
        nonces.append(sent.nonce)
        if sent.reply is not None:
            hello = sent.reply
            read = {"seen_as": str(hello.seen_as), "sent_from": str(hello.sent_from)}
            detail = f"sepcheck responder on {host}"
            if hello.translation is Translation.ADDRESS:
                read["nat"] = "address"
                detail += f"; NAT: it saw {hello.seen_as}"
            return replace(
                result,
                state=State.OPEN,
                reason="responder-reply",
                detail=detail,
                app=_finding(True, detail, read),
            )
    answer = await _seen(address, port, nonces, plan, wait)
    if answer is None:
        why = "no sepcheck responder answered, and none could be asked over TCP"
        return replace(result, app=_finding(None, why, {"failure": "no-query"}))
    if answer.seen and answer.seen_from is not None:
        received = answer.seen_from
        why = (
            f"one-way: the responder on {host} received it (from {received}), its "
            "answers did not come back (routing or a stateful firewall on the return path)"
        )
        read = {"seen_as": str(received), "one_way": True}
        return replace(
            result,
            state=State.OPEN,
            reason="responder-seen",
            detail=f"received by the sepcheck responder on {host}",
            app=_finding(False, why, read),
        )
    if answer.listening and not answer.busy:
        why = f"the responder on {host} listens on udp/{port} and received none of {len(nonces)}"
        return replace(
            result,
            state=State.FILTERED,
            reason="responder-not-seen",
            detail=why,
            app=_finding(False, why, {"listening": True}),
        )
    if answer.listening:
        why = f"the responder on {host} was at its limits: not confirmed"
        return replace(result, app=_finding(None, why, {"listening": True}))
    why = f"another service holds udp/{port} on {host} (the responder could not listen there)"
    return replace(result, app=_finding(None, why, {"listening": False}))


async def _seen(
    address: str, port: int, nonces: list[bytes], plan: ResponderPlan, wait: float
) -> Answer | None:
    """The responder's answer about the UDP probes of ``nonces`` (the first that reached
    it), or None when no query could be made."""
    found: Answer | None = None
    for nonce in nonces:
        found = await _ask(address, port, nonce, plan, udp=True, wait=wait)
        if found is None or found.seen:
            return found
    return found


async def _ask(
    address: str, port: int, nonce: bytes, plan: ResponderPlan, *, udp: bool, wait: float
) -> Answer | None:
    """Ask the responder on ``address`` about ``nonce`` and ``port`` over the first of the
    plan's TCP ports (and the UDP port's TCP twin, where a UDP-only responder answers
    queries) that answers; each within ``wait``: a filtered one costs no more."""
    from sepcheck.net.beacon_client import query

    ports = [*plan.query_ports, port] if udp else list(plan.query_ports)
    for tcp_port in dict.fromkeys(ports):
        if tcp_port == port and not udp:
            continue
        try:
            async with asyncio.timeout(wait):
                return await query(
                    address,
                    tcp_port,
                    plan.key,
                    nonce,
                    udp_port=port if udp else None,
                    ask_port=None if udp else port,
                )
        except (AppFailure, TimeoutError):
            continue
    return None
