"""Who sent a 'closed' answer in raw mode: the host, or a device on the path forging it.

A RST or port unreachable is judged against the TTL of the host's own answers (ttl.py).
When no reference is known yet, the try holds its answer, the host is asked for one (an
ICMP echo request, once per host) and the try settles as soon as any answer of the host
arrives, or at its deadline with "cannot tell".
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from sepcheck.net.outcome import Outcome
from sepcheck.net.raw import packets
from sepcheck.net.raw.side import Side
from sepcheck.net.ttl import judge_ttl

if sys.platform != "linux":  # raw sockets, recvmsg, SO_TIMESTAMPNS, BPF
    raise ImportError("raw mode needs Linux")

if TYPE_CHECKING:
    from sepcheck.net.raw.tries import Pending


class Forgery:
    def __init__(self, side_for: Callable[[bytes], Side]) -> None:
        self.side_for = side_for
        self.host_ttl: dict[bytes, int] = {}
        """Reference TTL per host: the first TTL seen on one of its own answers."""
        self.waiting: dict[bytes, list[Pending]] = {}
        self.pinged: set[bytes] = set()
        self.ident = os.getpid() & 0xFFFF
        self.echo_seq = 0

    def closed(self, attempt: Pending, outcome: Outcome) -> None:
        """Settle ``attempt`` with a 'closed' answer once it is known who sent it."""
        if outcome.reply_from is not None and outcome.reply_from != attempt.address:
            # Only the host can say its own port is closed: a port unreachable from any
            # other address is a firewall's reject.
            attempt.settle(
                Outcome(
                    outcome.state,
                    "forged-port-unreach",
                    outcome.reply_from,
                    outcome.rtt,
                    outcome.rtt_exact,
                    outcome.ttl,
                    f"port-unreach forged by {outcome.reply_from}, a device on the path "
                    f"(only {attempt.address} can say its port is closed; ttl {outcome.ttl})",
                )
            )
            return
        reference = self.host_ttl.get(attempt.packed)
        if reference is not None:
            attempt.settle(self.judged(outcome, attempt.address, reference))
            return
        attempt.held = outcome
        self.waiting.setdefault(attempt.packed, []).append(attempt)
        self._ping(attempt.packed, attempt.address)

    def judged(self, outcome: Outcome, address: str, reference: int | None) -> Outcome:
        """A 'closed' outcome with the verdict on who sent it."""
        what = "reset" if outcome.reason == "reset" else "port-unreach"
        verdict = judge_ttl(what, outcome.ttl, reference, address)
        reason = f"forged-{what}" if verdict.forged else what
        return Outcome(
            outcome.state,
            reason,
            outcome.reply_from,
            outcome.rtt,
            outcome.rtt_exact,
            outcome.ttl,
            verdict.note,
        )

    def learn(self, packed: bytes, ttl: int) -> None:
        """A TTL seen on one of the host's own answers: the reference for its others."""
        if packed in self.host_ttl:
            return
        self.host_ttl[packed] = ttl
        for attempt in self.waiting.pop(packed, ()):
            held = attempt.held
            if held is not None and attempt.done is not None:
                attempt.settle(self.judged(held, attempt.address, ttl))

    def release(self, attempt: Pending) -> None:
        """``attempt`` no longer waits (settled, expired, aborted)."""
        waiting = self.waiting.get(attempt.packed)
        if waiting is None:
            return
        with contextlib.suppress(ValueError):
            waiting.remove(attempt)
        if not waiting:
            del self.waiting[attempt.packed]

    def echo_reply(self, source: bytes, echo_id: int, ttl: int) -> None:
        """An echo reply arrived: a reference TTL when it answers one of our requests."""
        if echo_id == self.ident and source in self.pinged:
            self.learn(source, ttl)

    def _ping(self, packed: bytes, address: str) -> None:
        """Ask the host for a reference TTL: one ICMP echo request per host and run."""
        if packed in self.pinged:
            return
        self.pinged.add(packed)
        side = self.side_for(packed)
        self.echo_seq = (self.echo_seq + 1) & 0xFFFF
        request = packets.echo_request(side.version, self.ident, self.echo_seq)
        with contextlib.suppress(OSError):  # no echo: the answer may come another way
            side.icmp.sendto(request, (address, 0))

    def forget_waiting(self) -> None:
        self.waiting.clear()
