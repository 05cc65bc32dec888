"""Probe results: what was observed for one probe, and the words used to say it.

``State`` and ``Verdict`` values are public JSON words. A network failure of one target is
a result (filtered, unresolved, ...), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sepcheck.model import Protocol
from sepcheck.net.outcome import Outcome, Seen

if TYPE_CHECKING:
    # A type only: the command line reads ``Stage`` from here while it is built, and the
    # plan package is not needed for that.
    from sepcheck.appcheck.finding import AppFinding
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
    app: AppFinding | None = None
    """What the application check read behind an open port (None: no check ran)."""


_STATE = {Seen.OPEN: State.OPEN, Seen.REFUSED: State.REFUSED, Seen.FILTERED: State.FILTERED}


def probe_result(probe: Probe, address: str, outcome: Outcome, tries: int) -> ProbeResult:
    """The result of a probe whose last try ended with ``outcome``, in the report's words:
    silence after every try is filtered (TCP) or open|filtered (UDP)."""
    if outcome.state is None:
        state = State.OPEN_FILTERED if probe.protocol is Protocol.UDP else State.FILTERED
        detail = f"no-response after {tries} {'try' if tries == 1 else 'tries'}"
    else:
        state = _STATE[outcome.state]
        if outcome.note:
            detail = outcome.note
        elif outcome.reply_from and outcome.reply_from != address:
            detail = f"{outcome.reason} by {outcome.reply_from}"
        else:
            detail = outcome.reason
        if outcome.ttl is not None and not outcome.note:
            detail += f" (ttl {outcome.ttl})"
    rtt_ms = round(outcome.rtt * 1000, 3) if outcome.rtt is not None else None
    return ProbeResult(
        probe,
        address,
        state,
        outcome.reason,
        outcome.reply_from,
        rtt_ms,
        max(tries, 1),
        detail,
        outcome.ttl,
    )


def unresolved_result(probe: Probe, why: str) -> ProbeResult:
    """The result of a probe whose host name gave no address to probe."""
    return ProbeResult(
        probe, None, State.UNRESOLVED, "unresolved", None, None, 0, f"name does not resolve: {why}"
    )
