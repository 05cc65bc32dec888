"""Where a flow dies: probes to the real destination port with rising TTL (raw mode).

As tcptraceroute / ``traceroute -T`` and firewalk (their manual pages): a probe whose TTL
runs out at hop k makes that router answer ICMP time-exceeded, so the flow is seen passing
up to hop k. The first probe that gets any other answer ends the trace: the destination's
SYN-ACK, RST, UDP reply or port unreachable (reached), or a device's ICMP unreachable or
forged reset (the flow dies there, with that evidence). When the hops after some point stay
silent, the flow dies after the last hop that answered (a silent drop).

Hops are probed a batch at a time, all of a batch at once (like ``traceroute -N``): a
trace takes about ``tries x timeout`` per batch, not per hop. Linux sends time-exceeded
before its forward filter runs, so a router that drops the flow still shows as a hop.

The probes go through the same engine as ``check`` (``engine/``), with its rate limit and
per-destination cap: the tries of a hop are the engine's retries, with a fixed timeout.

No printing here: ``render/trace.py`` turns a TraceReport into text.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from sepcheck.engine import Engine, EngineSettings
from sepcheck.model import Protocol
from sepcheck.net.outcome import FORGED_REASONS, SILENT, TIME_EXCEEDED, Outcome
from sepcheck.net.protocols import Backend
from sepcheck.net.ttl import routers_crossed
from sepcheck.timing import TimingSettings


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
    rate: float = EngineSettings.rate
    """Packets per second, as ``check --rate`` (0: no limit)."""
    per_host: int = EngineSettings.per_host
    """Probes in flight toward the destination at once."""

    def engine_settings(self) -> EngineSettings:
        """The engine's limits for a trace: a hop's tries are its retries, each waiting
        the fixed timeout (no adaptive timing: hops far away answer later)."""
        return EngineSettings(
            rate=self.rate,
            per_host=self.per_host,
            timing=TimingSettings(
                initial_timeout=self.timeout,
                min_timeout=self.timeout,
                max_timeout=self.timeout,
                retries=self.tries - 1,
                max_retries=self.tries - 1,
            ),
        )


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


@dataclass(frozen=True, slots=True)
class _HopProbe:
    """One hop's probe, as the engine reads it (engine.Target)."""

    host: str
    address: str | None
    protocol: Protocol
    port: int
    ttl: int | None
    ipv4_only: bool = False


class _Hops:
    """The engine's sink for one batch: each hop's last outcome and how many probes."""

    def __init__(self) -> None:
        self.found: dict[int, tuple[Outcome, int]] = {}

    def settled(self, probe: _HopProbe, address: str, outcome: Outcome, tries: int) -> None:
        assert probe.ttl is not None
        self.found[probe.ttl] = (outcome, tries)

    def unresolved(self, probe: _HopProbe, why: str) -> None:
        assert probe.ttl is not None  # targets carry their address: never happens
        self.found[probe.ttl] = (SILENT, 0)


def _hop(ttl: int, outcome: Outcome, sent: int) -> Hop:
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


async def _batch(engine: Engine, target: TraceTarget, ttls: range) -> list[Hop]:
    probes = [
        _HopProbe(target.host, target.address, target.protocol, target.port, ttl) for ttl in ttls
    ]
    hops = _Hops()
    await engine.run(probes, hops)
    return [_hop(ttl, *hops.found[ttl]) for ttl in ttls]


async def trace(
    backend: Backend, target: TraceTarget, settings: TraceSettings | None = None
) -> TraceReport:
    """Trace one flow toward its destination; the backend stays open for the caller."""
    s = settings or TraceSettings()
    engine = Engine(backend, lambda _port: target.payload, s.engine_settings())
    hops: list[Hop] = []
    ttl = 1
    while ttl <= s.max_hops:
        hops += await _batch(engine, target, range(ttl, min(ttl + s.batch, s.max_hops + 1)))
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
