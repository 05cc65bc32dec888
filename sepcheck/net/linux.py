"""The Linux backend (the default there): non-blocking sockets on the backend's own epoll set.

The engine sends its TCP probes through ``syn_scanner`` (``linux_scan.py``): a connect()
per ticket, answers read in batches, no object or callback per probe. ``start_tcp`` stays
for callers that want one try at a time (``TcpTry``); both judge a socket with the same
code (``connects.py``). One socket per UDP probe (reused across its retries so a late
reply still counts). Linux-only features it uses, each for a reason: its own epoll set
(``poller.py``: one epoll_ctl per socket), the error queue (``errqueue.py``: who sent an
ICMP error, without privileges), TCP_INFO (the kernel's RTT) and SOCK_NONBLOCK.
``portable.py`` is the same job with what every platform has.

Why a busy event loop cannot turn an open port into "filtered" here: the kernel completes
the TCP handshake (and queues UDP replies and ICMP errors) whether or not the loop is
looking. When a try's deadline passes, ``expire()`` reads the socket's real state once
more (SO_ERROR, getpeername, a non-blocking recv and the error queue) before calling the
try silent, so lateness of the loop only ever delays a verdict, never changes it. RTTs of
open connections come from the kernel (TCP_INFO), free of the loop's lag.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time

from sepcheck.net import errqueue
from sepcheck.net.connects import expire_tcp, from_queue, settle_tcp
from sepcheck.net.linux_scan import ConnectScanner
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome
from sepcheck.net.plumbing import (
    IN_PROGRESS,
    SettledTry,
    failed_start,
    new_socket,
    open_or_fail,
    read_datagram,
    resolve_addresses,
    send_datagram,
    set_ttl,
)
from sepcheck.net.poller import Poller, running_poller
from sepcheck.net.protocols import Channel, Done, Try

if sys.platform != "linux":  # epoll, the error queue, TCP_INFO
    raise ImportError("the linux backend needs Linux")

_SOL_SOCKET, _SO_ERROR = socket.SOL_SOCKET, socket.SO_ERROR


class TcpTry:
    """One TCP connect() in flight. Calls ``done`` once if the socket settles before the
    engine calls ``expire()``; after either, the socket is closed."""

    __slots__ = ("address", "done", "fd", "poller", "sent", "settled", "sock")

    def __init__(
        self, poller: Poller, address: str, port: int, done: Done, ttl: int | None
    ) -> None:
        self.poller = poller
        self.address = address
        self.done = done
        self.settled: Outcome | None = None
        """The outcome when connect() settled at once (the backend hands it on)."""
        sock = self.sock = new_socket(address, socket.SOCK_STREAM)
        self.fd = -1
        try:
            errqueue.enable(sock, ":" in address)
            set_ttl(sock, ttl)
            self.sent = time.monotonic()
            err = sock.connect_ex((address, port))
        except BaseException:
            sock.close()
            raise
        if err in IN_PROGRESS:
            self.fd = sock.fileno()
            poller.watch(self.fd, True, self._ready)
            return
        # Settled at once: connected (loopback can), or refused by the local stack (no
        # route, a local firewall): nothing came back over the network.
        self.settled = settle_tcp(sock, address, err, time.monotonic() - self.sent, immediate=True)

    def _ready(self) -> None:
        self.poller.unwatch(self.fd, True, closing=True)
        self.fd = -1
        err = self.sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
        outcome = settle_tcp(self.sock, self.address, err, time.monotonic() - self.sent)
        # Silence here is a local shortage (RESOURCE_ERRNOS): no answer, so no ``done``;
        # the try stays silent until ``expire()`` and the engine tries again.
        if not outcome.silent:
            self.done(outcome)

    def expire(self) -> Outcome:
        """The deadline passed: read the kernel's verdict once more, then close."""
        if self.fd == -1:
            return SILENT  # already settled and reported
        self.poller.unwatch(self.fd, True, closing=True)
        self.fd = -1
        return expire_tcp(self.sock, self.address, self.sent)

    def abort(self) -> None:
        if self.fd != -1:
            self.poller.unwatch(self.fd, True, closing=True)
            self.fd = -1
        self.sock.close()


class UdpChannel:
    """A connected UDP socket for one probe; each ``send`` is one try. Retries reuse the
    socket, so a late answer to an earlier try still counts."""

    __slots__ = ("address", "done", "fd", "poller", "sent", "sock")

    def __init__(self, poller: Poller, address: str, port: int, ttl: int | None) -> None:
        self.poller = poller
        self.address = address
        sock = self.sock = new_socket(address, socket.SOCK_DGRAM)
        try:
            errqueue.enable(sock)
            set_ttl(sock, ttl)
            sock.connect((address, port))
        except BaseException:
            sock.close()
            raise
        self.fd = -1
        self.sent = 0.0
        self.done: Done | None = None

    def send(self, payload: bytes, done: Done) -> Try:
        self.done = None
        self.sent = time.monotonic()
        refused = send_datagram(self.sock, payload)
        if refused is not None:
            return SettledTry(refused, done)
        self.done = done
        if self.fd == -1:
            self.fd = self.sock.fileno()
            self.poller.watch(self.fd, False, self._ready)
        return self

    def _ready(self) -> None:
        outcome = self._check(time.monotonic() - self.sent)
        # A wake-up with nothing to read (e.g. a datagram that failed its checksum) is not
        # an answer: keep waiting until the engine's deadline.
        if not outcome.silent and self.done is not None:
            done, self.done = self.done, None
            self._stop_reading()
            done(outcome)

    def expire(self) -> Outcome:
        self._stop_reading()
        if self.done is None:
            return SILENT
        self.done = None
        return self._check(time.monotonic() - self.sent)

    def _stop_reading(self, closing: bool = False) -> None:
        if self.fd != -1:
            self.poller.unwatch(self.fd, False, closing)
            self.fd = -1

    def _check(self, elapsed: float) -> Outcome:
        queued = from_queue(self.sock, elapsed)
        if queued is not None:
            with contextlib.suppress(OSError):  # clear the pending socket error too
                self.sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
            return queued
        return read_datagram(self.sock, self.address, elapsed)

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        self._stop_reading(closing=True)
        self.done = None
        self.sock.close()


class LinuxBackend:
    """Probes over the host's own TCP/IP stack. Needs no privileges. Use it inside the
    event loop that runs the probes, and ``close()`` it when the run is over."""

    name = "linux"

    def __init__(self) -> None:
        self._poller: Poller | None = None
        self.syn_scanner = ConnectScanner()
        """The engine's batch path for TCP probes (linux_scan.py); ``start_tcp`` stays
        for callers that want one try at a time."""

    def _poll(self) -> Poller:
        self._poller = running_poller(self._poller)
        return self._poller

    def close(self) -> None:
        self.syn_scanner.close()
        if self._poller is not None:
            self._poller.close()
            self._poller = None

    async def resolve(self, name: str, family: int) -> list[str]:
        return await resolve_addresses(name, family)

    def start_tcp(self, address: str, port: int, done: Done, ttl: int | None = None) -> Try:
        # start_or_settle's rule, written out: this runs once per probe.
        try:
            return _connect(self._poll(), address, port, done, ttl)
        except LocalResourceError:
            raise
        except OSError as exc:
            return SettledTry(failed_start(exc, udp=False), done)

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> Channel:
        return open_or_fail(lambda: UdpChannel(self._poll(), address, port, ttl))


def _connect(poller: Poller, address: str, port: int, done: Done, ttl: int | None) -> Try:
    """A connect() in flight, or its outcome when it settled at once."""
    attempt = TcpTry(poller, address, port, done, ttl)
    return attempt if attempt.settled is None else SettledTry(attempt.settled, done)
