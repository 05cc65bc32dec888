"""The prober's side of the responder protocol (``beacon``): a TCP hello, a UDP exchange
and a query, each one message out and at most one message (64 bytes) read back.

The caller imposes the deadline (``asyncio.timeout`` around each client), as for the
application checks (``app/conn.py``); only ``udp_exchange`` waits on its own, for the
``wait`` it is given. Failures come out as ``AppFailure``: CONNECT (the connect failed, or
an ICMP error answered the datagram), CLOSED (the connection ended before a reply: after
a completed handshake, what a SYN proxy or a firewall answering for the host looks
like), NOT_PROTOCOL (an answer that is not a message of this run's key, or not one that
answers this probe). TIMEOUT is the caller's.

A QUERY asks, over TCP to a port where the responder listens, about one port (its
``port`` field): TCP when its endpoint is None, UDP otherwise. For UDP the endpoint is
the query connection's own source (getsockname), like a probe's: the field must be set
to say UDP, and it gives the responder one more view of the prober's address. The SEEN
flag is about the nonce, whatever the port; the ANSWER's endpoint, when SEEN, is the
source the responder saw the UDP probe come from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sepcheck.net.app.conn import close_stream, describe, foreign, open_stream, read_bounded, send
from sepcheck.net.app.facts import AppFailure, FailureKind
from sepcheck.net.beacon import (
    BUSY,
    MAGIC,
    SIZE,
    Endpoint,
    Kind,
    Message,
    decode,
    encode,
    new_nonce,
    same_endpoint,
)

NO_NONCE = bytes(16)
"""The nonce of a query that asks about no UDP probe (only whether a port listens)."""

PROTOCOL = "a sepcheck responder"

_NO_REPLY = "the connection was accepted, then closed without a responder's reply"
"""CLOSED after the handshake: what a SYN proxy or a firewall answering for the host
looks like when nothing behind it answers."""


class Translation(StrEnum):
    """What the path changed in the prober's source, as the responder saw it."""

    NONE = "none"
    PORT = "port"
    """Same address, another port: port translation (or a firewall that randomises
    source ports), not address NAT."""
    ADDRESS = "address"
    """Another address (the port may differ too): NAT."""


@dataclass(frozen=True)
class Hello:
    """A probe the responder answered."""

    sent_from: Endpoint
    """The prober's own source, as its socket gives it (getsockname)."""
    seen_as: Endpoint
    """The source the responder saw."""
    nonce: bytes

    @property
    def nat(self) -> bool:
        """The responder saw another source than the prober's own (address or port)."""
        return not same_endpoint(self.sent_from, self.seen_as)

    @property
    def translation(self) -> Translation:
        if not self.nat:
            return Translation.NONE
        # Compared as endpoints of port 0, so an IPv4-mapped address equals its IPv4 one.
        same_address = same_endpoint(
            Endpoint(self.sent_from.address, 0), Endpoint(self.seen_as.address, 0)
        )
        return Translation.PORT if same_address else Translation.ADDRESS


@dataclass(frozen=True)
class UdpResult:
    """A UDP probe: its nonce (to query about), and the reply when one came."""

    nonce: bytes
    sent_from: Endpoint
    reply: Hello | None


@dataclass(frozen=True)
class Answer:
    """The responder's answer to a query."""

    seen: bool
    """It received the UDP probe with the query's nonce."""
    seen_from: Endpoint | None
    """Where that probe came from, as it saw it (None unless ``seen``)."""
    listening: bool | None
    """It listens on the port asked about (None when no port was asked about)."""
    busy: bool = False
    """It refused messages lately (rate limit, connection cap)."""


async def tcp_hello(address: str, port: int, key: bytes, nonce: bytes | None = None) -> Hello:
    """Connect to ``address``:``port``, send a PROBE_TCP (``nonce``, else a new one: the
    caller that may ask about it later chooses it) and read the responder's REPLY."""
    nonce = nonce or new_nonce()
    reply, own = await _exchange(
        address, port, key, lambda own: Message(Kind.PROBE_TCP, port, nonce, own), Kind.REPLY
    )
    if reply.endpoint is None:
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"{PROTOCOL} replied without a source")
    return Hello(own, reply.endpoint, nonce)


async def query(
    address: str,
    tcp_port: int,
    key: bytes,
    nonce: bytes,
    udp_port: int | None,
    ask_port: int | None,
) -> Answer:
    """Ask the responder on TCP ``tcp_port`` whether it received the UDP probe ``nonce``
    (``NO_NONCE`` for none) and whether it listens on UDP ``udp_port`` or on TCP
    ``ask_port`` (one of them, or neither to ask only about the nonce)."""
    if udp_port is not None and ask_port is not None:
        raise ValueError("a query asks about one port: UDP udp_port or TCP ask_port")
    port = udp_port if udp_port is not None else ask_port

    def build(own: Endpoint) -> Message:
        return Message(Kind.QUERY, port or 0, nonce, own if udp_port is not None else None)

    answer, _ = await _exchange(address, tcp_port, key, build, Kind.ANSWER)
    seen_from = answer.endpoint if answer.seen else None
    listening = None if port is None else answer.listening(udp=udp_port is not None)
    return Answer(answer.seen, seen_from, listening, bool(answer.flags & BUSY))


async def _exchange(
    address: str, port: int, key: bytes, build: Callable[[Endpoint], Message], expect: Kind
) -> tuple[Message, Endpoint]:
    """Connect, send the message ``build`` makes of this socket's own endpoint, read one
    message back and check that it answers it: the answer and the own endpoint."""
    reader, writer, _ = await open_stream(address, port)
    try:
        own = _endpoint(writer.get_extra_info("sockname"))
        sent = build(own)
        try:
            await send(writer, encode(key, sent))
            data, _ = await read_bounded(reader, SIZE)
        except AppFailure as failure:  # a reset (always CLOSED here): said as an EOF is
            cause = failure.__cause__
            why = describe(cause) if isinstance(cause, OSError) else failure.detail
            raise AppFailure(FailureKind.CLOSED, f"{_NO_REPLY} ({why})") from failure
        if not data:
            raise AppFailure(FailureKind.CLOSED, _NO_REPLY)
        return _answering(key, data, sent, expect), own
    finally:
        await close_stream(writer)


async def udp_exchange(address: str, port: int, key: bytes, wait: float) -> UdpResult:
    """Send one PROBE_UDP to ``address``:``port`` and wait up to ``wait`` seconds for the
    REPLY carrying its nonce; datagrams that are not that reply are ignored. One datagram
    only: the caller repeats the exchange (a new nonce each time) against loss."""
    loop = asyncio.get_running_loop()
    nonce = new_nonce()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Listener(key, nonce, port), remote_addr=(address, port)
        )
    except OSError as error:
        raise AppFailure(FailureKind.CONNECT, f"connect failed: {describe(error)}") from error
    try:
        own = _endpoint(transport.get_extra_info("sockname"))
        transport.sendto(encode(key, Message(Kind.PROBE_UDP, port, nonce, own)))
        try:
            async with asyncio.timeout(wait):
                seen_as = await protocol.reply
        except TimeoutError:
            return UdpResult(nonce, own, None)
        return UdpResult(nonce, own, Hello(own, seen_as, nonce))
    finally:
        transport.close()
        protocol.settle()


class _Listener(asyncio.DatagramProtocol):
    """Takes the first REPLY to the probe ``nonce``; keeps nothing else (a flood of other
    datagrams costs a decode each, no memory)."""

    def __init__(self, key: bytes, nonce: bytes, port: int) -> None:
        self.key = key
        self.nonce = nonce
        self.port = port
        self.reply: asyncio.Future[Endpoint] = asyncio.get_running_loop().create_future()

    def settle(self) -> None:
        """Leave no future pending, nor an error unretrieved (the caller's deadline may
        cancel the wait just after an ICMP error was set)."""
        if self.reply.done():
            if not self.reply.cancelled():
                self.reply.exception()
        else:
            self.reply.cancel()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        message = decode(self.key, data)
        if (
            self.reply.done()
            or message is None
            or message.kind is not Kind.REPLY
            or message.nonce != self.nonce
            or message.port != self.port
            or message.endpoint is None
        ):
            return
        self.reply.set_result(message.endpoint)

    def error_received(self, exc: Exception) -> None:
        # On a connected socket the kernel hands ICMP errors to the socket: port
        # unreachable as ECONNREFUSED, host or network unreachable as their own errnos.
        if self.reply.done():
            return
        if isinstance(exc, ConnectionRefusedError):
            failure = AppFailure(FailureKind.CONNECT, "refused: ICMP port unreachable")
        else:
            failure = AppFailure(FailureKind.CONNECT, f"UDP send failed: {describe(exc)}")
        self.reply.set_exception(failure)


def _endpoint(sockname: object) -> Endpoint:
    """A socket's (address, port[, flowinfo, scope_id]) as an Endpoint."""
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        raise AppFailure(FailureKind.CONNECT, f"no source address on the socket: {sockname!r}")
    return Endpoint(str(sockname[0]), int(sockname[1]))


def _answering(key: bytes, data: bytes, sent: Message, expect: Kind) -> Message:
    """The message in ``data`` when it is ``expect`` answering ``sent``; else NOT_PROTOCOL."""
    message = decode(key, data)
    if message is None:
        raise _not_a_message(data)
    wrong = [
        name
        for name, ok in (
            ("kind", message.kind is expect),
            ("nonce", message.nonce == sent.nonce),
            ("port", message.port == sent.port),
        )
        if not ok
    ]
    if message == sent:
        # Only an echo service sends back a valid message of this key that is not a reply.
        raise AppFailure(FailureKind.NOT_PROTOCOL, "the probe came back unchanged: an echo service")
    if wrong:
        raise AppFailure(
            FailureKind.NOT_PROTOCOL,
            f"{PROTOCOL} answered, but not this probe (wrong {', '.join(wrong)})",
        )
    return message


def _not_a_message(data: bytes) -> AppFailure:
    if len(data) == SIZE and data.startswith(MAGIC):
        return AppFailure(
            FailureKind.NOT_PROTOCOL,
            f"{PROTOCOL} answered, but not with this run's token (another run's, or damaged)",
        )
    if len(data) < SIZE and (data.startswith(MAGIC) or MAGIC.startswith(data)):
        return AppFailure(
            FailureKind.NOT_PROTOCOL, f"{PROTOCOL}'s reply was cut short ({len(data)} bytes)"
        )
    return foreign(PROTOCOL, data)
