"""Probe results: what was observed for one probe, and the words used to say it.

``State`` and ``Verdict`` values are public JSON words. A network failure of one target is
a result (filtered, unresolved, ...), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sepcheck.plan import Probe


class State(StrEnum):
    OPEN = "open"
    REFUSED = "refused"
    FILTERED = "filtered"
    OPEN_FILTERED = "open|filtered"
    UNRESOLVED = "unresolved"


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Verdict.PASS: 0, Verdict.WARN: 1, Verdict.FAIL: 2}


class Stage(StrEnum):
    """When the check runs: before SEP is installed, a refused port proves the path."""

    OPERATIONAL = "operational"
    PRE_INSTALL = "pre-install"


@dataclass(frozen=True)
class Outcome:
    """What one attempt of a probe saw. ``state`` None means silence (timeout)."""

    state: State | None
    reason: str
    """Short code, as nmap's --reason: syn-ack, conn-refused, udp-response, port-unreach,
    admin-prohibited, host-unreach, net-unreach, local-policy, no-response, ..."""
    reply_from: str | None = None
    """Address of the device that answered (the host, or a router's ICMP)."""
    rtt: float | None = None
    """Seconds from the real send to the answer; None without an answer."""
    rtt_exact: bool = False
    """True when the kernel measured the RTT (TCP_INFO): free of the event loop's lag."""
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


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    address: str | None
    """The IP probed (after name resolution); None when the name did not resolve."""
    state: State
    reason: str
    reply_from: str | None
    rtt_ms: float | None
    attempts: int
    detail: str
    """Human words for the reason: 'no-response after 2 tries', 'admin-prohibited by
    198.18.1.1'."""
    reply_ttl: int | None = None
    """TTL (IPv6: hop limit) of the reply; known in raw mode only."""


class LocalResourceError(OSError):
    """A backend ran out of sockets or buffers on this host; the engine waits and retries."""
