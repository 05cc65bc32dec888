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

from sepcheck.appcheck.finding import AppFinding, Scalar
from sepcheck.model import Protocol
from sepcheck.net.app.facts import AppFailure, FailureKind
from sepcheck.net.beacon import Endpoint
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


def _where(endpoint: Endpoint) -> str:
    return (
        f"[{endpoint.address}]:{endpoint.port}"
        if ":" in endpoint.address
        else (f"{endpoint.address}:{endpoint.port}")
    )


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
    from sepcheck.net.beacon_client import Translation, tcp_hello

    address, port, host = result.address or "", result.probe.port, result.probe.host
    try:
        try:
            # Bounded on its own: a SYN proxy completes the handshake and then nothing
            # answers; the query that tells it apart needs time left.
            async with asyncio.timeout(wait):
                hello = await tcp_hello(address, port, plan.key)
        except TimeoutError:
            raise AppFailure(
                FailureKind.CLOSED,
                f"the handshake completed, then no reply within {wait:g} s",
            ) from None
    except AppFailure as failure:
        listening = await _listening(address, port, plan, udp=False)
        read: dict[str, Scalar] = {"failure": failure.kind.value}
        if listening is True:
            read["listening"] = True
            why = (
                f"a device on the path completed the handshake: the responder on {host} "
                f"listens on tcp/{port} and never received the connection ({failure.detail})"
            )
            return replace(result, app=_finding(False, why, read))
        if listening is False:
            read["listening"] = False
            why = (
                f"another service holds tcp/{port} on {host} (the responder could not listen there)"
            )
            return replace(result, app=_finding(None, why, read))
        why = f"no sepcheck responder answered ({failure.detail})"
        return replace(result, app=_finding(None, why, read))
    read = {"seen_as": _where(hello.seen_as), "sent_from": _where(hello.sent_from)}
    detail = f"sepcheck responder on {host}"
    if hello.translation is Translation.ADDRESS:
        read["nat"] = "address"
        detail += (
            f"; NAT: it saw {_where(hello.seen_as)}, this host sent from {_where(hello.sent_from)}"
        )
    elif hello.translation is Translation.PORT:
        read["nat"] = "port"
        detail += f"; source port translated ({hello.sent_from.port} -> {hello.seen_as.port})"
    return replace(result, app=_finding(True, detail, read))


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
            read = {"seen_as": _where(hello.seen_as), "sent_from": _where(hello.sent_from)}
            detail = f"sepcheck responder on {host}"
            if hello.translation is Translation.ADDRESS:
                read["nat"] = "address"
                detail += f"; NAT: it saw {_where(hello.seen_as)}"
            return replace(
                result,
                state=State.OPEN,
                reason="responder-reply",
                detail=detail,
                app=_finding(True, detail, read),
            )
    seen = await _seen(address, port, nonces, plan)
    if seen is None:
        why = "no sepcheck responder answered, and none could be asked over TCP"
        return replace(result, app=_finding(None, why, {"failure": "no-query"}))
    received, listening = seen
    if received is not None:
        why = (
            f"one-way: the responder on {host} received it (from {_where(received)}), its "
            "answers did not come back (routing or a stateful firewall on the return path)"
        )
        read = {"seen_as": _where(received), "one_way": True}
        return replace(
            result,
            state=State.OPEN,
            reason="responder-seen",
            detail=f"received by the sepcheck responder on {host}",
            app=_finding(False, why, read),
        )
    if listening:
        why = f"the responder on {host} listens on udp/{port} and received none of {len(nonces)}"
        return replace(
            result,
            state=State.FILTERED,
            reason="responder-not-seen",
            detail=why,
            app=_finding(False, why, {"listening": True}),
        )
    why = f"another service holds udp/{port} on {host} (the responder could not listen there)"
    return replace(result, app=_finding(None, why, {"listening": False}))


async def _listening(address: str, port: int, plan: ResponderPlan, *, udp: bool) -> bool | None:
    """Whether the responder listens on ``port`` (None: no other port answered a query)."""
    seen = await _ask(address, port, None, plan, udp=udp)
    return None if seen is None else seen[1]


async def _seen(
    address: str, port: int, nonces: list[bytes], plan: ResponderPlan
) -> tuple[Endpoint | None, bool] | None:
    """Whether any of ``nonces`` reached the responder (where from), and whether it listens
    on udp/``port``; None when no query could be made."""
    found: tuple[Endpoint | None, bool] | None = None
    for nonce in nonces:
        found = await _ask(address, port, nonce, plan, udp=True)
        if found is None or found[0] is not None:
            return found
    return found


async def _ask(
    address: str, port: int, nonce: bytes | None, plan: ResponderPlan, *, udp: bool
) -> tuple[Endpoint | None, bool] | None:
    from sepcheck.net.beacon_client import NO_NONCE, query

    for tcp_port in dict.fromkeys(plan.query_ports):
        if tcp_port == port and not udp:
            continue
        try:
            answer = await query(
                address,
                tcp_port,
                plan.key,
                nonce or NO_NONCE,
                udp_port=port if udp else None,
                ask_port=None if udp else port,
            )
        except AppFailure:
            continue
        except asyncio.CancelledError:
            raise
        return (answer.seen_from if answer.seen else None), bool(answer.listening)
    return None
