"""One raw-mode try: a SYN in flight, or a UDP probe's socket and its tries.

Both register with the ``Matcher`` (dispatch.py), which hands them the replies read on the
raw sockets; a 'closed' answer may be held until the host's reference TTL is known
(forged.py).
"""

from __future__ import annotations

import errno
import random
import socket
import sys
import time
from typing import TYPE_CHECKING

from sepcheck.net.classify import classify_errno
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen
from sepcheck.net.plumbing import RESOURCE_ERRNOS, SettledTry, new_socket, send_datagram
from sepcheck.net.poller import Poller
from sepcheck.net.protocols import Done, Try
from sepcheck.net.raw import packets
from sepcheck.net.raw.side import ANCILLARY, IPV6_RECVHOPLIMIT, SO_TIMESTAMPNS, Ancillary, Side

if sys.platform != "linux":  # raw sockets, recvmsg, SO_TIMESTAMPNS, BPF
    raise ImportError("raw mode needs Linux")

if TYPE_CHECKING:
    from sepcheck.net.raw.dispatch import Matcher

_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_RETRYABLE_SEND = frozenset({errno.EAGAIN, errno.EWOULDBLOCK}) | RESOURCE_ERRNOS


class Pending:
    """What a TCP try and a UDP try share: who to tell, when sent, a held answer."""

    __slots__ = ("address", "done", "held", "matcher", "packed", "sent_mono", "sent_wall")

    def __init__(self, matcher: Matcher, address: str, packed: bytes) -> None:
        self.matcher = matcher
        self.address = address
        self.packed = packed
        self.done: Done | None = None
        self.held: Outcome | None = None
        """A 'closed' answer waiting for the host's reference TTL."""
        self.sent_wall = 0.0
        self.sent_mono = 0.0

    def _mark_sent(self) -> None:
        self.sent_wall = time.time()
        self.sent_mono = time.monotonic()

    def rtt(self, stamp: float | None) -> tuple[float, bool]:
        """Seconds from send to the kernel's receive time when known (exact), else to now."""
        if stamp is not None:
            elapsed = stamp - self.sent_wall
            if elapsed >= 0:
                return elapsed, True
        return time.monotonic() - self.sent_mono, False

    def settle(self, outcome: Outcome) -> None:
        done, self.done = self.done, None
        self._unhold()
        self._forget()
        if done is not None:
            done(outcome)

    def _forget(self) -> None:
        """Stop matching replies to this try."""

    def _take_held(self) -> Outcome:
        held = self.held
        self._unhold()
        if held is None:
            return SILENT
        return self.matcher.forgery.judged(held, self.address, None)

    def _unhold(self) -> None:
        """Drop a held answer, and the Forgery's note of it (hosts that never give a
        reference TTL would otherwise keep every try that waited for one)."""
        if self.held is not None:
            self.held = None
            self.matcher.forgery.release(self)


class RawTcpTry(Pending):
    """One SYN in flight; settles on a SYN-ACK, a RST or an ICMP error about it."""

    __slots__ = ("key",)

    def __init__(
        self,
        matcher: Matcher,
        side: Side,
        address: str,
        packed: bytes,
        port: int,
        done: Done,
        ttl: int | None,
    ) -> None:
        super().__init__(matcher, address, packed)
        self.done = done
        seq = random.getrandbits(32)
        self.key = (packed, port, seq)
        source = side.source_for(address, packed)
        segment = packets.syn_segment(source, packed, side.sport, port, seq)
        side.set_ttl(side.tcp, ttl)
        matcher.tcp_tries[self.key] = self
        self._mark_sent()
        try:
            side.tcp.sendto(segment, (address, 0))
        except OSError as exc:
            del matcher.tcp_tries[self.key]
            if exc.errno in _RETRYABLE_SEND:
                raise LocalResourceError(exc.errno, exc.strerror) from None
            raise

    def _forget(self) -> None:
        self.matcher.tcp_tries.pop(self.key, None)

    def expire(self) -> Outcome:
        if self.done is None:
            return SILENT
        self.done = None
        self._forget()
        return self._take_held()

    def abort(self) -> None:
        self.done = None
        self._unhold()
        self._forget()


class RawUdpChannel(Pending):
    """A connected UDP socket for one probe (reused by its retries); the reply and its TTL
    arrive on it, its ICMP errors on the backend's raw ICMP socket."""

    __slots__ = ("fd", "key", "poller", "side", "sock")

    def __init__(
        self,
        matcher: Matcher,
        poller: Poller,
        side: Side,
        address: str,
        packed: bytes,
        port: int,
        ttl: int | None,
    ) -> None:
        super().__init__(matcher, address, packed)
        self.side = side
        self.poller = poller
        sock = self.sock = new_socket(address, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if len(packed) == 4:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            side.set_ttl(sock, ttl, force=False)
            sock.connect((address, port))
            sport = sock.getsockname()[1]
        except BaseException:
            sock.close()
            raise
        self.key = (packed, port, sport)
        matcher.udp_channels[self.key] = self
        self.fd = sock.fileno()
        self.poller.watch(self.fd, False, self._ready)

    def send(self, payload: bytes, done: Done) -> Try:
        self.done = None
        self._unhold()
        self._mark_sent()
        refused = send_datagram(self.sock, payload)
        if refused is not None:
            # Refused by this host's stack: settled, and still taken back by expire/abort.
            return SettledTry(refused, done)
        self.done = done
        return self

    def _ready(self) -> None:
        try:
            data, ancdata, _, _ = self.sock.recvmsg(65535, ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # An ICMP error arrived: its evidence (sender, TTL) is on the raw ICMP socket,
            # read it first; the errno alone is the fallback.
            self.matcher.drain_icmp(self.side)
            if self.done is not None and self.held is None:
                found = classify_errno(exc.errno or 0, udp=True, arrived=True)
                if found is not None:
                    self.settle(Outcome(found[0], found[1], None, self.rtt(None)[0]))
            return
        del data
        if self.done is None:
            return  # a late answer between tries: the next try will get its own
        extra = Ancillary(ancdata)
        rtt, exact = self.rtt(extra.stamp)
        if extra.ttl is not None:
            self.matcher.forgery.learn(self.packed, extra.ttl)
        self.settle(Outcome(Seen.OPEN, "udp-response", self.address, rtt, exact, ttl=extra.ttl))

    def expire(self) -> Outcome:
        if self.done is None:
            return SILENT
        # What arrived while the loop was busy still counts; it is returned, not passed to
        # the engine's callback, which must not hear of this try twice.
        caught: list[Outcome] = []
        self.done = caught.append
        self._ready()
        if caught:
            return caught[0]
        self.done = None
        return self._take_held()

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        self.done = None
        self._unhold()
        self.matcher.udp_channels.pop(self.key, None)
        if self.fd != -1:
            self.poller.unwatch(self.fd, False, closing=True)
            self.fd = -1
        self.sock.close()
