"""Socket plumbing every backend shares: opening probe sockets, resolving names, sending a
datagram, and tries that settled before they started."""

from __future__ import annotations

import asyncio
import errno
import socket

from sepcheck.net.classify import classify_errno, errno_outcome
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen
from sepcheck.net.protocols import Done

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS})
"""Out of descriptors or buffers on this host: a reason to wait, not an answer."""
IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, 10035})
"""connect_ex() of a non-blocking socket that is under way (10035: WSAEWOULDBLOCK)."""
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


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


def set_ttl(sock: socket.socket, ttl: int | None) -> None:
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
