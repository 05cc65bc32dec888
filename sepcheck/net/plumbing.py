"""Socket plumbing every backend shares: opening probe sockets, resolving names, sending and
reading a datagram, closing a connection with RST, and tries that settled before they
started."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
from collections.abc import Callable

from sepcheck.net.classify import classify_errno, errno_outcome
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen
from sepcheck.net.protocols import Channel, Done, Try

WSAENOBUFS = 10055
"""Winsock's "no buffer space" (also: out of ephemeral ports). Python's errno.ENOBUFS on
Windows is the C runtime's 119, not what a socket call reports."""
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, WSAENOBUFS})
"""Out of descriptors or buffers on this host: a reason to wait, not an answer."""
IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, 10035})
"""connect_ex() of a non-blocking socket that is under way (10035: WSAEWOULDBLOCK)."""
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
# struct linger: two ints on POSIX, two u_shorts on Windows.
LINGER_RESET = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
"""SO_LINGER with a zero timeout: close() sends RST, no TIME_WAIT on our side."""


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def new_socket(address: str, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking socket for a probe to ``address``. Out of descriptors raises
    LocalResourceError; any other failure is the caller's to turn into an outcome."""
    try:
        # SOCK_NONBLOCK (Linux) saves the extra system call of setblocking().
        sock = socket.socket(family_of(address), kind | _NONBLOCK)
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise LocalResourceError(exc.errno, exc.strerror) from None
        raise
    if not _NONBLOCK:
        sock.setblocking(False)
    return sock


def set_ttl(sock: socket.SocketType, ttl: int | None) -> None:
    """Send with this TTL (IPv6: hop limit); None keeps the system's default."""
    if ttl is None:
        return
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


async def resolve_addresses(name: str, family: int) -> list[str]:
    """The addresses of ``name`` (the resolver's order, without repeats), for any backend."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def send_datagram(sock: socket.socket, payload: bytes) -> Outcome | None:
    """Send one UDP try; the outcome when the local stack refuses it at once (no route, a
    local firewall), None when it left (or the buffer is full: the try stays silent)."""
    try:
        sock.send(payload)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise LocalResourceError(exc.errno, exc.strerror) from None
        return errno_outcome(exc.errno or 0, udp=True)
    return None


def reset_on_close(sock: socket.SocketType) -> None:
    """Make close() of a connected probe socket send RST: no TIME_WAIT pile-up on our side
    over thousands of probes (the other outcomes send nothing on close). Every platform
    has SO_LINGER; a failure only costs a TIME_WAIT."""
    try:  # noqa: SIM105 (not contextlib.suppress: this runs once per open port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    except OSError:
        pass


def connected(sock: socket.SocketType) -> bool:
    """Has this socket's connect() completed? (getpeername fails until it has.)"""
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def read_datagram(sock: socket.socket, address: str, rtt: float | None) -> Outcome:
    """One non-blocking read of a connected UDP probe socket: a reply (open), the errno an
    ICMP error left on the socket (port unreachable: ECONNREFUSED, or WSAECONNRESET on
    Windows; see classify.py), or SILENT when nothing is there. ``rtt`` is what the
    outcome reports (None when the caller cannot tell when the answer came)."""
    try:
        sock.recv(65535)  # a non-blocking socket: no MSG_DONTWAIT, which Windows lacks
    except (BlockingIOError, InterruptedError):
        return SILENT
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            return SILENT  # this host's shortage says nothing about the target
        return errno_outcome(exc.errno or 0, rtt, udp=True, arrived=True)
    return Outcome(Seen.OPEN, "udp-response", address, rtt)


class SettledTry:
    """A try whose outcome was known before it started (this host refused to send: no
    route, a local firewall, an address family it lacks). It keeps the call-once contract:
    ``done`` runs on the loop's next turn, unless the try is expired or aborted first."""

    __slots__ = ("done", "outcome")

    def __init__(self, outcome: Outcome, done: Done) -> None:
        self.outcome = outcome
        self.done: Done | None = done
        asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(self.outcome)

    def expire(self) -> Outcome:
        if self.done is None:
            return SILENT
        self.done = None
        return self.outcome

    def abort(self) -> None:
        self.done = None


class FailedChannel:
    """A UDP channel that could not be opened: each try settles with why (see SettledTry)."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def send(self, payload: bytes, done: Done) -> SettledTry:
        return SettledTry(self.outcome, done)

    def close(self) -> None:
        pass


def failed_start(exc: OSError, *, udp: bool) -> Outcome:
    """The outcome of a try whose socket could not even be set up (not out of resources:
    those raise LocalResourceError): what the errno says, else a local error."""
    found = classify_errno(exc.errno or 0, udp=udp)
    return Outcome(*found) if found else Outcome(Seen.FILTERED, "local-error")


def start_or_settle(start: Callable[[], Try], done: Done) -> Try:
    """``start()``, or a settled try when this host cannot set the try up (an errno that
    says why, as an outcome). Out of resources still raises LocalResourceError."""
    try:
        return start()
    except LocalResourceError:
        raise
    except OSError as exc:
        return SettledTry(failed_start(exc, udp=False), done)


def open_or_fail(open_channel: Callable[[], Channel]) -> Channel:
    """``open_channel()``, or a channel whose tries settle with why it could not open."""
    try:
        return open_channel()
    except LocalResourceError:
        raise
    except OSError as exc:
        return FailedChannel(failed_start(exc, udp=True))
