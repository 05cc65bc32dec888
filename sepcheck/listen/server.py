"""The responder: answers the probes of `sepcheck check` that carry the run's token.

TCP: each connection may send one message (at most ``beacon.SIZE`` bytes, within
``Limits.timeout``). A PROBE_TCP gets a REPLY (the probe's nonce and port, and the source
the responder saw); a QUERY gets an ANSWER (whether the UDP probe with that nonce arrived,
from where, and whether the responder listens on the query's port). Anything else is
closed without a byte. UDP: a PROBE_UDP gets a REPLY sent from the address the datagram
was sent to; anything else is ignored. Every answer is one message of ``beacon.SIZE``
bytes, the size of the request: never an amplifier. Traffic without the token is only
counted (``events.EventLog.ignore``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sepcheck.listen.events import Event, EventLog, SeenProbe, What
from sepcheck.listen.limits import ConnectionSlots, Limits, NonceMemory, RateLimiter, Sighting
from sepcheck.listen.sockets import IP_PKTINFO, IPV6_PKTINFO, Bound
from sepcheck.model import Protocol
from sepcheck.net.beacon import (
    BUSY,
    LISTENING_TCP,
    LISTENING_UDP,
    SEEN,
    SIZE,
    Endpoint,
    Kind,
    Message,
    decode,
    encode,
)

BUSY_MEMORY = 10.0
"""Seconds a refusal (rate limit, connection cap) is remembered for queries' BUSY flag."""

BATCH = 64
"""Datagrams read per wake-up of one UDP socket, so one busy port cannot starve the rest."""
_ANCILLARY = 256
_LINGER_ZERO = struct.pack("ii", 1, 0)
_ACCEPTED = {Protocol.TCP: (Kind.PROBE_TCP, Kind.QUERY), Protocol.UDP: (Kind.PROBE_UDP,)}

Ancillary = list[tuple[int, int, bytes]]


def reply_from(ancdata: Ancillary) -> Ancillary:
    """Ancillary data that sends a reply from the address the datagram was sent to (as
    tests/lab/listener.py): a host with several addresses would otherwise answer from
    another one, and the prober's connected socket would drop the reply as a stranger's."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            # struct in_pktinfo: ifindex, spec_dst, addr; answer from addr.
            return [(level, kind, bytes(4) + data[8:12] + bytes(4))]
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
            return [(level, kind, data[:16] + bytes(4))]
    return []


def _endpoint(address: Any) -> Endpoint:
    """A socket address (IPv4 pair or IPv6 quadruple) as an Endpoint."""
    return Endpoint(str(address[0]), int(address[1]))


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    """Exactly one message's bytes, or None when the peer sent fewer (and closed) or more.
    Reads one byte past a message, so that a longer request is never taken for one."""
    data = b""
    while len(data) < SIZE:
        chunk = await reader.read(SIZE + 1 - len(data))
        if not chunk:
            return None
        data += chunk
    return data if len(data) == SIZE else None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), not a FIN: a connection the responder ends
    leaves no TIME_WAIT behind on its port, so a responder started again within a minute
    can bind the port (it binds without SO_REUSEADDR, see sockets.py) instead of taking
    it for a real service's."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    writer.transport.abort()


@dataclass(frozen=True)
class _Response:
    reply: bytes | None
    """None: not answered (over the rate limit)."""
    what: What
    seen: SeenProbe | None = None


class Responder:
    """Serves the sockets of ``bound`` on the running loop, between ``start`` and
    ``close`` (or as an async context manager)."""

    def __init__(
        self,
        key: bytes,
        bound: Bound,
        log: EventLog,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.bound = bound
        self.log = log
        self.limits = limits or Limits()
        self.clock = clock
        self.wall = wall
        self.limiter = RateLimiter(self.limits, clock())
        self.slots = ConnectionSlots(self.limits.connections)
        self.nonces = NonceMemory(self.limits.nonces, self.limits.nonce_ttl)
        """Probes received lately (TCP and UDP), for queries and against replays."""
        self.busy_until = 0.0
        """Until when queries say BUSY: it refused messages within BUSY_MEMORY seconds."""
        self._listening = {p: bound.ports(p) for p in Protocol}
        self._servers: list[asyncio.Server] = []
        self._readers: list[socket.socket] = []
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    async def __aenter__(self) -> Responder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for each in self.bound.listening:
            for sock in each.sockets:
                if each.protocol is Protocol.TCP:
                    # A small stream buffer: no message is longer than SIZE bytes.
                    server = await asyncio.start_server(self._connection, sock=sock, limit=SIZE * 2)
                    self._servers.append(server)
                else:
                    loop.add_reader(sock.fileno(), self._readable, sock, each.port)
                    self._readers.append(sock)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._readers:
            loop.remove_reader(sock.fileno())
        for server in self._servers:
            server.close()
        # Aborted, not cancelled: each handler then sees its connection end and returns
        # (a cancelled handler is logged as an error by asyncio's streams).
        for writer in self._connections.values():
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._readers.clear()
        self._servers.clear()

    # -- TCP -----------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        port = int(writer.get_extra_info("sockname")[1])
        if not self.slots.acquire():
            self.log.refuse(port)
            self.busy_until = self.clock() + BUSY_MEMORY
            _reset(writer)
            return
        self._connections[task] = writer
        closed_first = False
        try:
            async with asyncio.timeout(self.limits.timeout):
                closed_first = await self._converse(reader, writer, port)
        except (TimeoutError, OSError):
            pass  # a slow or vanished peer: the connection ends, nothing else
        finally:
            self._connections.pop(task, None)
            self.slots.release()
            if closed_first:
                writer.close()
            else:
                _reset(writer)

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> bool:
        """Answer the connection's message, if it is one; True when the prober closed
        the connection first, after the answer."""
        data = await _read_message(reader)
        message = decode(self.key, data) if data is not None else None
        if message is None or message.kind not in _ACCEPTED[Protocol.TCP]:
            self.log.ignore(Protocol.TCP, port)
            return False
        source = _endpoint(writer.get_extra_info("peername"))
        response = self._respond(Protocol.TCP, port, source, message)
        if response.reply is None:
            self._record(Protocol.TCP, port, source, message, response, answered=False)
            return False
        writer.write(response.reply)
        await writer.drain()
        self._record(Protocol.TCP, port, source, message, response, answered=True)
        # The prober closes first, so the TIME_WAIT of the connection stays on its side.
        while await reader.read(SIZE):
            pass
        return True

    # -- UDP -----------------------------------------------------------------------

    def _readable(self, sock: socket.socket, port: int) -> None:
        for _ in range(BATCH):
            try:
                data, ancdata, peer = _receive(sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # an error queued on the socket: read again at the next wake-up
            self._datagram(sock, port, data, ancdata, peer)

    def _datagram(
        self, sock: socket.socket, port: int, data: bytes, ancdata: Ancillary, peer: Any
    ) -> None:
        message = decode(self.key, data)
        if message is None or message.kind not in _ACCEPTED[Protocol.UDP]:
            self.log.ignore(Protocol.UDP, port)
            return
        source = _endpoint(peer)
        response = self._respond(Protocol.UDP, port, source, message)
        answered = False
        if response.reply is not None:
            try:
                _send(sock, response.reply, ancdata, peer)
                answered = True
            except OSError:
                pass  # a full send buffer, or no route back: recorded as not answered
        self._record(Protocol.UDP, port, source, message, response, answered)

    # -- both ----------------------------------------------------------------------

    def _respond(
        self, protocol: Protocol, port: int, source: Endpoint, message: Message
    ) -> _Response:
        """The answer to a token message (its MAC checked), within the rate limits."""
        now = self.clock()
        if message.kind is not Kind.QUERY:
            if self.nonces.find(message.nonce, now) is not None:
                # A probe is answered once: a captured one sent again (from any source)
                # reflects nothing.
                return _Response(None, What.REPLAYED)
            # Remembered before the rate limit: a query can then say the probe arrived
            # even when it was not answered.
            self.nonces.remember(message.nonce, Sighting(source, port, now))
        if not self.limiter.allow(source.address, now):
            self.busy_until = now + BUSY_MEMORY
            return _Response(None, What.RATE_LIMITED)
        if message.kind is Kind.QUERY:
            return self._answer(message, now)
        reply = Message(Kind.REPLY, message.port, message.nonce, source)
        what = What.PROBE if message.port == port else What.REDIRECTED
        return _Response(encode(self.key, reply), what)

    def _answer(self, query: Message, now: float) -> _Response:
        sighting = self.nonces.find(query.nonce, now)
        flags = SEEN if sighting is not None else 0
        if now < self.busy_until:
            flags |= BUSY
        if query.port in self._listening[Protocol.TCP]:
            flags |= LISTENING_TCP
        if query.port in self._listening[Protocol.UDP]:
            flags |= LISTENING_UDP
        source = sighting.source if sighting is not None else None
        answer = Message(Kind.ANSWER, query.port, query.nonce, source, flags)
        seen = SeenProbe(sighting.source, sighting.port) if sighting is not None else None
        return _Response(encode(self.key, answer), What.QUERY, seen)

    def _record(
        self,
        protocol: Protocol,
        port: int,
        source: Endpoint,
        message: Message,
        response: _Response,
        answered: bool,
    ) -> None:
        event = Event(
            self.wall(),
            protocol,
            port,
            source,
            response.what,
            message.port,
            answered,
            response.seen,
        )
        self.log.add(event)


def _receive(sock: socket.socket) -> tuple[bytes, Ancillary, Any]:
    """One datagram with the address it was sent to (packet info), where the platform
    gives it; Windows has no recvmsg: the reply then leaves from the routing's choice."""
    if sys.platform == "win32":
        data, peer = sock.recvfrom(SIZE + 1)
        return data, [], peer
    data, ancdata, _flags, peer = sock.recvmsg(SIZE + 1, _ANCILLARY)
    return data, ancdata, peer


def _send(sock: socket.socket, reply: bytes, ancdata: Ancillary, peer: Any) -> None:
    if sys.platform == "win32":
        sock.sendto(reply, peer)
        return
    sock.sendmsg([reply], reply_from(ancdata), 0, peer)
