"""Binding the responder's ports: each on the IPv4 and the IPv6 wildcard, and never over a
service that already holds it.

TCP sockets get neither SO_REUSEADDR nor SO_REUSEPORT: with them a bind could share a port
a real service listens on (SO_REUSEPORT on Linux, SO_REUSEADDR on Windows), and the
responder would steal some of its connections. Without them a held port fails with
EADDRINUSE, and is skipped: the real service answers there instead. Ports below 1024 need
privileges (EACCES): those are skipped and named together, the rest still listen. A host
without IPv6 listens on IPv4 alone.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sepcheck.listen.ports import PortSpec
from sepcheck.model import Protocol

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
WILDCARDS = ("0.0.0.0", "::")
BACKLOG = 512
PRIVILEGED_BELOW = 1024
_NO_FAMILY = frozenset({errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT})
"""An address family this host lacks (IPv6 disabled): not a reason to skip the port."""


class Family(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class SkipReason(StrEnum):
    IN_USE = "in_use"
    PRIVILEGED = "privileged"
    ERROR = "error"


@dataclass(frozen=True)
class Listening:
    protocol: Protocol
    port: int
    families: tuple[Family, ...]
    sockets: tuple[socket.socket, ...] = field(compare=False, repr=False)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@dataclass(frozen=True)
class Skipped:
    protocol: Protocol
    port: int
    reason: SkipReason
    why: str


@dataclass(frozen=True)
class Bound:
    listening: tuple[Listening, ...]
    skipped: tuple[Skipped, ...]

    def ports(self, protocol: Protocol) -> frozenset[int]:
        return frozenset(each.port for each in self.listening if each.protocol is protocol)

    @property
    def privileged(self) -> tuple[Skipped, ...]:
        return tuple(s for s in self.skipped if s.reason is SkipReason.PRIVILEGED)

    def close(self) -> None:
        for each in self.listening:
            each.close()


Opener = Callable[[Protocol, str, int], socket.socket]
"""Makes one bound, non-blocking socket (tests pass their own to see other errors)."""


def open_socket(protocol: Protocol, address: str, port: int) -> socket.socket:
    """A non-blocking socket of ``protocol`` bound to ``address``:``port`` (TCP: listening)."""
    v6 = ipaddress.ip_address(address).version == 6
    family = socket.AF_INET6 if v6 else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol is Protocol.TCP else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        if v6:
            # One socket per family: an IPv4 peer then comes on the IPv4 socket, and a
            # real service on either family makes the bind fail.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if protocol is Protocol.UDP:
            # The address each datagram was sent to, so the reply leaves from it.
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.bind((address, port))
        if protocol is Protocol.TCP:
            sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_ports(
    ports: Sequence[PortSpec],
    addresses: Sequence[str] = WILDCARDS,
    opener: Opener = open_socket,
) -> Bound:
    """Bind every port on every address; what cannot be bound is skipped with why."""
    listening: list[Listening] = []
    skipped: list[Skipped] = []
    for spec in ports:
        bound = _bind_one(spec, addresses, opener)
        if isinstance(bound, Listening):
            listening.append(bound)
        else:
            skipped.append(bound)
    return Bound(tuple(listening), tuple(skipped))


def _bind_one(spec: PortSpec, addresses: Sequence[str], opener: Opener) -> Listening | Skipped:
    port = spec.port
    sockets: list[socket.socket] = []
    families: list[Family] = []
    for address in addresses:
        try:
            sock = opener(spec.protocol, address, port)
        except OSError as exc:
            if exc.errno in _NO_FAMILY:
                continue
            for each in sockets:  # a port held on one family is not ours on the other
                each.close()
            return _skipped(spec, exc)
        sockets.append(sock)
        family = Family.IPV6 if sock.family == socket.AF_INET6 else Family.IPV4
        if family not in families:
            families.append(family)
        # Port 0 (tests): the kernel chose one; the other family takes the same.
        port = sock.getsockname()[1]
    if not sockets:
        return Skipped(spec.protocol, spec.port, SkipReason.ERROR, f"{spec}: no address to bind")
    return Listening(spec.protocol, port, tuple(families), tuple(sockets))


def _skipped(spec: PortSpec, exc: OSError) -> Skipped:
    if exc.errno == errno.EADDRINUSE:
        instead = (
            "the real service will answer instead"
            if spec.protocol is Protocol.TCP
            else "the real service receives its datagrams instead"
        )
        why = f"{spec.port} in use by another process: {instead}"
        return Skipped(spec.protocol, spec.port, SkipReason.IN_USE, why)
    if exc.errno in (errno.EACCES, errno.EPERM) and spec.port < PRIVILEGED_BELOW:
        why = f"{spec.port} is below {PRIVILEGED_BELOW}: needs root or CAP_NET_BIND_SERVICE"
        return Skipped(spec.protocol, spec.port, SkipReason.PRIVILEGED, why)
    return Skipped(spec.protocol, spec.port, SkipReason.ERROR, f"{spec}: {exc.strerror or exc}")
