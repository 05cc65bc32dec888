"""What the network said about one try of a probe: the network edge's own vocabulary.

``net/`` is a leaf: it imports nothing of sepcheck above it, so a backend can be loaded (and
tested) without the catalogue, the plan or pydantic. The engine passes these outcomes on
untouched (with the number of tries, or why a name did not resolve);
``results.probe_result`` turns them into the report's states and words (silence after
every try: filtered for TCP, open|filtered for UDP).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Seen(StrEnum):
    """What an answer proves. The values are the report's words for the same states."""

    OPEN = "open"
    REFUSED = "refused"
    FILTERED = "filtered"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one try of a probe saw. ``state`` None means silence (timeout)."""

    state: Seen | None
    reason: str
    """Short code, as nmap's --reason: syn-ack, conn-refused, udp-response, port-unreach,
    admin-prohibited, host-unreach, net-unreach, local-policy, no-response, ..."""
    reply_from: str | None = None
    """Address of the device that answered (the host, or a router's ICMP)."""
    rtt: float | None = None
    """Seconds from the real send to the answer; None without an answer."""
    rtt_exact: bool = False
    """True when the kernel measured the RTT (TCP_INFO, SO_TIMESTAMPNS): free of the
    event loop's lag."""
    ttl: int | None = None
    """TTL (IPv6: hop limit) of the reply as it arrived; raw mode only."""
    note: str = ""
    """Evidence in words that replaces the default detail (raw mode: forged replies)."""

    @property
    def silent(self) -> bool:
        return self.state is None


SILENT = Outcome(None, "no-response")

FORGED_REASONS = frozenset({"forged-reset", "forged-port-unreach"})
"""Reasons for a 'closed' answer that a device on the path sent in the host's place (raw
mode tells them by TTL or by the ICMP's sender): the flow is blocked by a firewall."""

TIME_EXCEEDED = "time-exceeded"
"""The reason of a router's ICMP time-exceeded: a probe with a short TTL got that far."""


class LocalResourceError(OSError):
    """This host ran out of sockets or buffers: not an answer about the target. The
    backend raises it from ``start_tcp``/``open_udp``/``send``; the caller waits and
    starts the try again."""
