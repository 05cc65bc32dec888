"""What the responder saw. Token traffic becomes events (capped: past the cap they are
only counted); everything else is only counted per port, never stored per packet, so a
flood cannot grow memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sepcheck.model import Protocol
from sepcheck.net.beacon import Endpoint


class What(StrEnum):
    PROBE = "probe"
    """A probe that came to the port it was aimed at: answered."""
    REDIRECTED = "redirected"
    """A probe aimed at another port than the one it arrived on (a port forward on the
    way): answered all the same."""
    QUERY = "query"
    """A prober asking, over TCP, whether one of its UDP probes arrived."""
    RATE_LIMITED = "rate_limited"
    """A token message over the rate limit: not answered (counted, not stored)."""
    REPLAYED = "replayed"
    """A probe whose nonce was already received (a captured probe sent again): never
    answered twice (counted, not stored)."""


@dataclass(frozen=True)
class SeenProbe:
    """A query's answer: the UDP probe asked about arrived from ``source`` on ``port``."""

    source: Endpoint
    port: int


@dataclass(frozen=True)
class Event:
    time: float
    """Wall-clock seconds (epoch)."""
    protocol: Protocol
    port: int
    """The local port it arrived on."""
    source: Endpoint
    """The source address and port as the responder saw them."""
    what: What
    aimed: int
    """The port the message names (a probe: where the prober aimed; a query: the port of
    the UDP probe asked about)."""
    answered: bool
    seen: SeenProbe | None = None
    """A query's: the UDP probe it asked about, when it arrived."""


EventCallback = Callable[[Event], None]


class EventLog:
    """The events of one run (at most ``cap``) and the counts of everything."""

    def __init__(self, cap: int, on_event: EventCallback | None = None) -> None:
        self.cap = cap
        self.on_event = on_event
        self.events: list[Event] = []
        self.left_out = 0
        self.counts: Counter[What] = Counter()
        self.ignored: Counter[tuple[Protocol, int]] = Counter()
        """Datagrams and connections without a valid token, by protocol and local port."""
        self.busy: Counter[int] = Counter()
        """TCP connections closed at once because the connection cap was reached, by port."""

    def add(self, event: Event) -> None:
        self.counts[event.what] += 1
        if event.what in _ONLY_COUNTED:
            # What a flood of token messages makes (a replayed capture, one source over
            # its rate) must not fill the cap and push the real probes out of the report.
            return
        if len(self.events) < self.cap:
            self.events.append(event)
        else:
            self.left_out += 1
        if self.on_event is not None:
            self.on_event(event)

    def ignore(self, protocol: Protocol, port: int) -> None:
        self.ignored[(protocol, port)] += 1

    def refuse(self, port: int) -> None:
        self.busy[port] += 1


_ONLY_COUNTED = frozenset({What.RATE_LIMITED, What.REPLAYED})
