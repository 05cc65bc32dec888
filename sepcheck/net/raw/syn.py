"""Raw mode's batch path for TCP: SYNs sent for the engine's tickets, answers handed back
in batches (``net.protocols.SynScanner``).

Each SYN is still matched by the ``Matcher`` (dispatch.py) and judged by ``Forgery``
(forged.py) exactly as a ``RawTcpTry`` is, since it is one; only the way back differs: an
answer goes into a list under the SYN's ticket, and the engine reads the list once per
tick, instead of one callback per probe. Before the engine judges any deadline it reads
the raw sockets dry (``answers``), so a reply that reached this host while the loop was
busy counts as the answer it is, not as silence.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome
from sepcheck.net.plumbing import failed_start
from sepcheck.net.raw import packets
from sepcheck.net.raw.side import Side
from sepcheck.net.raw.tries import RawTcpTry

if sys.platform != "linux":  # raw sockets, recvmsg, SO_TIMESTAMPNS, BPF
    raise ImportError("raw mode needs Linux")

if TYPE_CHECKING:
    from sepcheck.net.raw.backend import RawBackend


def _waiting(outcome: Outcome) -> None:
    """A SYN's ``done`` while it waits: never called (``_Syn.settle`` replaces it)."""


class _Syn(RawTcpTry):
    """One SYN of the batch path: a RawTcpTry whose answer goes to the scanner's list."""

    __slots__ = ("scanner", "ticket")

    def __init__(
        self,
        scanner: RawSynScanner,
        ticket: int,
        side: Side,
        address: str,
        packed: bytes,
        port: int,
        ttl: int | None,
    ) -> None:
        self.scanner = scanner
        self.ticket = ticket
        super().__init__(scanner.backend.matcher, side, address, packed, port, _waiting, ttl)

    def settle(self, outcome: Outcome) -> None:
        if self.done is None:
            return
        self.done = None
        self._unhold()
        self._forget()
        scanner = self.scanner
        del scanner.syns[self.ticket]
        scanner.answer(self.ticket, outcome)


class RawSynScanner:
    """The raw backend's ``syn_scanner``."""

    def __init__(self, backend: RawBackend) -> None:
        self.backend = backend
        self.syns: dict[int, _Syn] = {}
        """Tickets in flight."""
        self.ready: dict[int, Outcome] = {}
        """Answers not yet taken by the engine, by ticket."""
        self.on_answer: Callable[[], None] | None = None

    def answer(self, ticket: int, outcome: Outcome) -> None:
        self.ready[ticket] = outcome
        if self.on_answer is not None:
            self.on_answer()

    def send_syn(self, ticket: int, address: str, port: int, ttl: int | None) -> None:
        try:
            packed = packets.pack_address(address)
            side = self.backend.side(packed)
            syn = _Syn(self, ticket, side, address, packed, port, ttl)
        except LocalResourceError:
            raise  # the engine waits it out
        except OSError as exc:
            # No route, a local firewall: what this host said is the ticket's answer.
            self.answer(ticket, failed_start(exc, udp=False))
            return
        self.syns[ticket] = syn

    def answers(self) -> list[tuple[int, Outcome]]:
        for side in list(self.backend.sides.values()):
            self.backend.matcher.drain(side)
        ready = list(self.ready.items())
        self.ready.clear()
        return ready

    def expire(self, ticket: int) -> Outcome:
        # Answered since the engine last took the answers (the deadlines of one tick
        # read sockets on the way: a UDP try's expire() drains the ICMP socket): that
        # answer is the ticket's.
        found = self.ready.pop(ticket, None)
        if found is not None:
            return found
        syn = self.syns.pop(ticket, None)
        return SILENT if syn is None else syn.expire()

    def abort(self, ticket: int) -> None:
        self.ready.pop(ticket, None)
        syn = self.syns.pop(ticket, None)
        if syn is not None:
            syn.abort()

    def close(self) -> None:
        for syn in self.syns.values():
            syn.abort()
        self.syns.clear()
        self.ready.clear()
