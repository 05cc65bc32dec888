"""The raw sockets of one address family, held for the whole run, and what their
ancillary data says (kernel receive time, TTL)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
from collections.abc import Callable, Iterator

from sepcheck.net.raw import packets
from sepcheck.net.raw.bpf import keep_only_port

if sys.platform != "linux":  # raw sockets, recvmsg, SO_TIMESTAMPNS, BPF
    raise ImportError("raw mode needs Linux")

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
ANCILLARY = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(4) + 64
"""Room for a timestamp and a TTL in recvmsg's ancillary data."""
_TIMESPEC = struct.Struct("=qq")
_INT = struct.Struct("=i")
_RECEIVE_BUFFER = 8 << 20
_SOURCES_KEPT = 4096
"""Destinations whose source address is remembered (a lookup is one connect())."""


class Ancillary:
    """What recvmsg's ancillary data says: kernel receive time and TTL/hop limit."""

    __slots__ = ("stamp", "ttl")

    def __init__(self, ancdata: list[tuple[int, int, bytes]]) -> None:
        self.stamp: float | None = None
        self.ttl: int | None = None
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanos = _TIMESPEC.unpack_from(data)
                self.stamp = seconds + nanos / 1e9
            elif len(data) >= 4 and (
                (level == socket.IPPROTO_IP and kind == socket.IP_TTL)
                or (level == socket.IPPROTO_IPV6 and kind == _IPV6_HOPLIMIT)
            ):
                self.ttl = _INT.unpack_from(data)[0]


class Side:
    """Per address family: a raw TCP socket (sends the SYNs, receives the TCP segments), a
    raw ICMP socket (errors, echo) and a bound TCP socket that reserves the SYNs' source
    port, so no real connection of this host can collide with a probe. ``on_tcp`` and
    ``on_icmp`` are called when the raw sockets are readable."""

    def __init__(
        self,
        family: int,
        on_tcp: Callable[[Side], object],
        on_icmp: Callable[[Side], object],
    ) -> None:
        self.family = family
        self.version = 4 if family == socket.AF_INET else 6
        self.sources: dict[bytes, bytes] = {}
        self.tcp_ttl: int | None = None
        opened: list[socket.socket] = []
        try:
            self.tcp = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
            opened.append(self.tcp)
            icmp = socket.IPPROTO_ICMP if self.version == 4 else socket.IPPROTO_ICMPV6
            self.icmp = socket.socket(family, socket.SOCK_RAW, icmp)
            opened.append(self.icmp)
            self.holder = socket.socket(family, socket.SOCK_STREAM)
            opened.append(self.holder)
            if self.version == 6:
                self.holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            self.holder.bind(("::" if self.version == 6 else "0.0.0.0", 0))
            self.sport: int = self.holder.getsockname()[1]
            if sys.platform == "linux":
                keep_only_port(self.tcp, self.version, self.sport)
            for sock in (self.tcp, self.icmp):
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                # As root the buffer may exceed rmem_max: bursts of replies must not be
                # dropped before the loop reads them (a drop would look like silence).
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECEIVE_BUFFER)
                if self.version == 6:
                    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        except BaseException:
            for sock in opened:
                sock.close()
            raise
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.tcp.fileno(), on_tcp, self)
        self.loop.add_reader(self.icmp.fileno(), on_icmp, self)

    def source_for(self, address: str, packed: bytes) -> bytes:
        """The address this host sends from toward ``address`` (for the TCP checksum):
        the kernel's route lookup, done once per destination by connecting a UDP socket
        (which sends nothing)."""
        found = self.sources.get(packed)
        if found is None:
            # A new socket each time: a UDP socket keeps the source address of its
            # first connect(), so one reused socket would checksum every SYN over the
            # first destination's source (caught in review, and by tests/lab/test_raw.py).
            # The C socket type, not socket.socket: this runs once per destination, and
            # the Python wrapper's creation and close cost more than the route lookup.
            route = socket.SocketType(self.family, socket.SOCK_DGRAM)
            try:
                route.connect((address, 9))
                found = packets.pack_address(route.getsockname()[0])
            finally:
                route.close()
            if len(self.sources) >= _SOURCES_KEPT:
                del self.sources[next(iter(self.sources))]  # asked again if ever needed
            self.sources[packed] = found
        return found

    def set_ttl(self, sock: socket.socket, ttl: int | None, *, force: bool = True) -> None:
        """Set the TTL of what ``sock`` sends (None: the system default, -1 for Linux)."""
        if sock is self.tcp:
            if ttl == self.tcp_ttl:
                return
            self.tcp_ttl = ttl
        elif ttl is None and not force:
            return
        value = -1 if ttl is None else ttl
        if self.version == 4:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_UNICAST_HOPS, value)

    def batch(self, sock: socket.socket, most: int) -> Iterator[tuple[bytes, Ancillary, bytes]]:
        """The packets waiting on ``sock`` (at most ``most``, so one busy socket cannot
        starve the loop's timers): each with its ancillary data and its sender, packed."""
        for _ in range(most):
            try:
                data, ancdata, _, peer = sock.recvmsg(65535, ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            yield data, Ancillary(ancdata), packets.pack_address(peer[0].partition("%")[0])

    def close(self) -> None:
        for sock in (self.tcp, self.icmp):
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(sock.fileno())
            sock.close()
        self.holder.close()
