"""Where a flow dies: probes to the real destination port with rising TTL (raw mode).

As tcptraceroute / ``traceroute -T`` and firewalk (probe-semantics.md): a probe whose TTL
runs out at hop k makes that router answer ICMP time-exceeded, so the flow is seen passing
up to hop k. The first probe that gets any other answer ends the trace: the destination's
SYN-ACK, RST, UDP reply or port unreachable (reached), or a device's ICMP unreachable or
forged reset (the flow dies there, with that evidence). When the hops after some point stay
silent, the flow dies after the last hop that answered (a silent drop).

Hops are probed a batch at a time, all of a batch at once (like ``traceroute -N``): a
trace takes about ``tries x timeout`` per batch, not per hop. Linux sends time-exceeded
before its forward filter runs, so a router that drops the flow still shows as a hop.

No printing here: ``render/trace.py`` turns a TraceReport into text.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from sepcheck.model import Protocol
from sepcheck.net.classify import classify_errno
from sepcheck.net.raw import RawBackend, RawTcpTry, RawUdpChannel
from sepcheck.net.ttl import routers_crossed
from sepcheck.results import FORGED_REASONS, SILENT, LocalResourceError, Outcome, State

TIME_EXCEEDED = "time-exceeded"


@dataclass(frozen=True)
class TraceSettings:
    max_hops: int = 30
    tries: int = 2
    """Probes per hop before it counts as silent."""
    timeout: float = 1.0
    """Seconds to wait for each probe's answer."""
    batch: int = 8
    """Hops probed at once."""
    gap: int = 3
    """Silent hops in a row, after the last answer, that end the trace."""


@dataclass(frozen=True)
class TraceTarget:
    host: str
    """As the user or the topology named it."""
    address: str
    protocol: Protocol
    port: int
    flow: str | None = None
    payload: bytes = b""
    """What a UDP probe carries (the port's payload from probes/udp.toml)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Hop(_Model):
    ttl: int = Field(description="TTL (IPv6: hop limit) the probe was sent with.")
    reply_from: str | None = Field(description="Who answered; null when nothing did.")
    state: str | None = Field(description="open, refused or filtered; null when silent.")
    reason: str = Field(description="time-exceeded, syn-ack, reset, admin-prohibited, ...")
    detail: str
    reply_ttl: int | None = Field(description="TTL of the answer as it arrived.")
    rtt_ms: float | None
    probes: int = Field(description="Probes sent with this TTL.")


class TraceReport(_Model):
    host: str
    address: str
    protocol: str
    port: int
    flow: str | None
    reached: bool = Field(description="The destination itself answered (open or closed).")
    outcome: str = Field(
        description="reached, blocked (a device answered in the destination's place or "
        "with an ICMP error), dropped (silence after the last hop that answered), local "
        "(this host could not send) or max-hops (every hop answered, none was the "
        "destination)."
    )
    hops: list[Hop]
    last_passed: Hop | None = Field(description="The last hop the flow was seen passing.")
    dies_at: Hop | None = Field(
        description="The answer that ended the flow (ICMP error, forged reset); null when "
        "the destination was reached or the flow was dropped silently."
    )
    dies_after_ttl: int | None = Field(
        description="For a silent drop: the flow dies after the hop with this TTL (0: "
        "before the first hop)."
    )
    summary: str


async def _once(backend: RawBackend, target: TraceTarget, ttl: int, timeout: float) -> Outcome:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Outcome] = loop.create_future()

    def done(outcome: Outcome) -> None:
        if not answer.done():
            answer.set_result(outcome)

    channel: RawUdpChannel | None = None
    attempt: RawUdpChannel | RawTcpTry
    while True:
        try:
            if target.protocol is Protocol.UDP:
                channel = backend.open_udp(target.address, target.port, ttl=ttl)
                attempt = channel.send(target.payload, done)
            else:
                attempt = backend.start_tcp(target.address, target.port, done, ttl=ttl)
            break
        except LocalResourceError:
            await asyncio.sleep(0.01)
        except OSError as exc:
            found = classify_errno(exc.errno or 0, udp=target.protocol is Protocol.UDP)
            state, reason = found if found else (State.FILTERED, "local-error")
            return Outcome(state, reason)
    try:
        return await asyncio.wait_for(asyncio.shield(answer), timeout)
    except TimeoutError:
        return attempt.expire()
    finally:
        if channel is not None:
            channel.close()
        else:
            attempt.abort()


async def _hop(backend: RawBackend, target: TraceTarget, ttl: int, s: TraceSettings) -> Hop:
    outcome, sent = SILENT, 0
    for _ in range(s.tries):
        sent += 1
        outcome = await _once(backend, target, ttl, s.timeout)
        if not outcome.silent:
            break
    if outcome.silent:
        detail = "no answer"
    elif outcome.note:
        detail = outcome.note
    else:
        detail = outcome.reason + (f" by {outcome.reply_from}" if outcome.reply_from else "")
    return Hop(
        ttl=ttl,
        reply_from=outcome.reply_from,
        state=outcome.state.value if outcome.state else None,
        reason=outcome.reason,
        detail=detail,
        reply_ttl=outcome.ttl,
        rtt_ms=round(outcome.rtt * 1000, 3) if outcome.rtt is not None else None,
        probes=sent,
    )


async def trace(
    backend: RawBackend, target: TraceTarget, settings: TraceSettings | None = None
) -> TraceReport:
    """Trace one flow toward its destination; the backend stays open for the caller."""
    s = settings or TraceSettings()
    hops: list[Hop] = []
    ttl = 1
    while ttl <= s.max_hops:
        batch = range(ttl, min(ttl + s.batch, s.max_hops + 1))
        hops += await asyncio.gather(*(_hop(backend, target, t, s) for t in batch))
        final = next((h for h in hops if h.state and h.reason != TIME_EXCEEDED), None)
        if final is not None:
            return _conclude(target, hops[: final.ttl], final)
        if _silent_tail(hops) >= s.gap:
            break
        ttl += s.batch
    if _ran_out(hops, s.max_hops):
        return _conclude(target, hops, None, max_hops=s.max_hops)
    return _conclude(target, _trim(hops, s.gap), None)


def _ran_out(hops: list[Hop], max_hops: int) -> bool:
    return bool(hops) and hops[-1].ttl == max_hops and hops[-1].state is not None


def _silent_tail(hops: list[Hop]) -> int:
    count = 0
    for hop in reversed(hops):
        if hop.state:
            break
        count += 1
    return count


def _trim(hops: list[Hop], gap: int) -> list[Hop]:
    """Keep the hops up to the last answer and ``gap`` silent ones after it."""
    last = max((i for i, h in enumerate(hops) if h.state), default=-1)
    return hops[: last + 1 + gap]


def _conclude(
    target: TraceTarget, hops: list[Hop], final: Hop | None, max_hops: int | None = None
) -> TraceReport:
    passed = [h for h in hops if h.reason == TIME_EXCEEDED and h is not final]
    last_passed = passed[-1] if passed else None
    if max_hops is not None:
        outcome = "max-hops"
        summary = (
            f"{target.protocol.value}/{target.port} still on its way after {max_hops} hops: "
            "not reached (raise --max-hops)"
        )
    else:
        outcome, summary = _verdict(target, hops, passed, last_passed, final)
    return TraceReport(
        host=target.host,
        address=target.address,
        protocol=target.protocol.value,
        port=target.port,
        flow=target.flow,
        reached=outcome == "reached",
        outcome=outcome,
        hops=hops,
        last_passed=last_passed,
        dies_at=final if outcome in ("blocked", "local") else None,
        dies_after_ttl=(last_passed.ttl if last_passed else 0) if outcome == "dropped" else None,
        summary=summary,
    )


def _verdict(
    target: TraceTarget,
    hops: list[Hop],
    passed: list[Hop],
    last_passed: Hop | None,
    final: Hop | None,
) -> tuple[str, str]:
    where = target.address
    flow = f"{target.protocol.value}/{target.port}"
    if final is None:
        if last_passed is None:
            summary = (
                f"{flow} dies before the first hop: nothing answered, not even a router's "
                "time-exceeded (dropped next to this host, or ICMP filtered on the way back)"
            )
        else:
            after = last_passed.ttl
            summary = (
                f"{flow} dies after hop {after} ({last_passed.reply_from}): "
                f"no answer from hop {after + 1} on (dropped silently)"
            )
        if target.protocol is Protocol.UDP:
            summary += (
                f"; for UDP, silence may also mean {where} received the probe and does not answer"
            )
        return "dropped", summary
    if final.reply_from is None:
        return "local", f"{flow} cannot leave this host: {final.reason} (local route or firewall)"
    if final.reason in FORGED_REASONS or final.reply_from != where:
        device = final.reply_from if final.reason != "forged-reset" else None
        if device is None and final.reply_ttl is not None:
            # A forged reset claims the host's address; its TTL says how far away the
            # forger is, and the hop list says who answered from that distance.
            distance = routers_crossed(final.reply_ttl) + 1
            device = next((h.reply_from for h in hops if h.ttl == distance), None)
        at = next((h.ttl for h in passed if h.reply_from == device), None)
        named = f"{device} (hop {at})" if device and at else device or "a device on the path"
        return "blocked", f"{flow} dies at {named}: {final.detail}"
    return "reached", f"{flow} reaches {where} at hop {final.ttl}: {final.state}, {final.detail}"
