"""Who sent a "closed" answer: the host, or a device on the path forging it (raw mode).

A firewall's ``reject with tcp reset`` (or a reject with ICMP port unreachable) answers in
the host's name, and connect() cannot tell it from a closed port. The TTL can: every
device starts its packets at an initial TTL (64 for Linux and macOS, 128 for Windows, 255
for many network devices) and each router on the way back takes one off. A reply forged
by a firewall 1 hop before the host arrives with a TTL one higher than the host's own
replies (the lab: the host's answers arrive with 63, the router's with 64). nmap shows the
TTL with --reason but draws no conclusion (nmap's reference guide, "--reason"); sepcheck
does, when it has a reference: a TTL seen on the host's own answers (SYN-ACK, UDP reply,
ICMP echo reply).

Limits: a path whose length changes between packets (ECMP over unequal paths, a routing
change) can make a genuine reply look forged; a firewall that copies the host's TTL or
sits in the host itself (its local firewall) cannot be told apart. Without a reference TTL
nothing is concluded: the detail says it cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass

_INITIAL_TTLS = (32, 64, 128, 255)


def routers_crossed(ttl: int) -> int:
    """Routers a reply crossed, guessing its sender started from the nearest common
    initial TTL at or above what arrived."""
    for initial in _INITIAL_TTLS:
        if ttl <= initial:
            return initial - ttl
    return 0


@dataclass(frozen=True)
class Judgement:
    forged: bool | None
    """True: sent by a device on the path; False: by the host; None: cannot tell."""
    note: str
    """The evidence in words, for the result's detail."""
    hops_before: int | None = None
    """How many hops before the host the forging device sits, when the TTLs say."""


def judge_ttl(what: str, ttl: int | None, reference: int | None, host: str) -> Judgement:
    """Whether a ``what`` ("reset", "port-unreach") claiming to come from ``host`` and
    arriving with ``ttl`` was sent by the host whose own replies arrive with ``reference``."""
    if ttl is None or reference is None:
        return Judgement(
            None,
            f"{what}; cannot tell whether {host} or a device on the path sent it "
            "(no reference TTL: the host answered nothing else)",
        )
    if ttl == reference:
        return Judgement(False, f"{what} (ttl {ttl}, as the host's own replies)")
    ours, theirs = routers_crossed(ttl), routers_crossed(reference)
    if ours < theirs:
        hops = theirs - ours
        return Judgement(
            True,
            f"{what} forged by a device {hops} hop{'s' if hops > 1 else ''} before {host} "
            f"(ttl {ttl}; the host's own replies arrive with {reference})",
            hops,
        )
    return Judgement(
        True,
        f"{what} forged: ttl {ttl} differs from the {reference} of {host}'s own replies",
    )
