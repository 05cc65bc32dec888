"""Small responders for the responder clients' tests, written with beacon.encode/decode
(not with sepcheck/listen: the clients are tested against the wire format itself): a TCP
responder on tests.net.app.servers.serve and a UDP one, each on a loopback address, port
0, answering what the test says, and checking when it ends that no client socket is left."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import psutil
import pytest

from sepcheck.net import beacon
from sepcheck.net.app.facts import AppFailure
from sepcheck.net.beacon import SIZE, Endpoint, Kind, Message, decode, encode
from sepcheck.net.beacon_client import tcp_hello
from tests.net.app.servers import Handler, Served, assert_client_gone, has_ipv6, serve

KEY = beacon.parse_token(beacon.new_token())
OTHER_KEY = beacon.parse_token(beacon.new_token())
DEADLINE = 5.0
"""Every case here ends on its own long before this; it only keeps a broken client from
hanging the suite."""

Answerer = Callable[[Message, Endpoint], list[bytes]]
"""What a test responder sends back for a message it decoded, given the source it saw."""


def replied(message: Message, peer: Endpoint) -> list[bytes]:
    """A well-behaved responder's REPLY: the probe's port and nonce, the source seen."""
    return [encode(KEY, Message(Kind.REPLY, message.port, message.nonce, peer))]


def reporting(seen: Callable[[Endpoint], Endpoint], key: bytes = KEY) -> Answerer:
    """A REPLY that reports ``seen(peer)`` as the source (a NAT in between), made with
    ``key``."""

    def answer(message: Message, peer: Endpoint) -> list[bytes]:
        return [encode(key, Message(Kind.REPLY, message.port, message.nonce, seen(peer)))]

    return answer


def host(family: str) -> str:
    if family == "::1" and not has_ipv6():
        pytest.skip("no IPv6 loopback")
    return family


HOSTS = pytest.mark.parametrize("family", ["127.0.0.1", "::1"])


def peer_endpoint(name: tuple[str | int, ...]) -> Endpoint:
    return Endpoint(str(name[0]), int(name[1]))


def responder(answer: Answerer, received: list[Message]) -> Handler:
    """A TCP responder: reads one message, records it, sends what ``answer`` says and
    waits for the client to close (it never closes first: the client must stop at one
    message)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        message = decode(KEY, await reader.readexactly(SIZE))
        assert message is not None
        received.append(message)
        for data in answer(message, peer_endpoint(writer.get_extra_info("peername"))):
            writer.write(data)
        await writer.drain()
        await reader.read(-1)

    return handler


@contextlib.asynccontextmanager
async def tcp_responder(
    answer: Answerer = replied, address: str = "127.0.0.1"
) -> AsyncIterator[tuple[Served, list[Message]]]:
    received: list[Message] = []
    async with serve(responder(answer, received), address) as served:
        yield served, received
        await assert_client_gone(served)


async def hello_failure(handler: Handler) -> AppFailure:
    async with serve(handler) as served:
        with pytest.raises(AppFailure) as caught:
            async with asyncio.timeout(DEADLINE):
                await tcp_hello(served.host, served.port, KEY)
        await assert_client_gone(served)
    return caught.value


@dataclass
class UdpResponder(asyncio.DatagramProtocol):
    """A UDP responder: records each datagram's message (None when not one of KEY) and
    sends what ``answer`` says for it."""

    answer: Answerer
    received: list[Message | None] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    """Set once the endpoint is made (asyncio's own datagram transport is no
    asyncio.DatagramTransport to isinstance, so connection_made cannot check it)."""

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        message = decode(KEY, data)
        self.received.append(message)
        assert self.transport is not None
        if message is not None:
            for reply in self.answer(message, peer_endpoint(addr)):
                self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def udp_responder(
    answer: Answerer = replied, address: str = "127.0.0.1"
) -> AsyncIterator[tuple[int, UdpResponder]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: UdpResponder(answer), local_addr=(address, 0)
    )
    protocol.transport = transport
    port: int = transport.get_extra_info("sockname")[1]
    try:
        yield port, protocol
        await assert_udp_client_gone(port)
    finally:
        transport.close()


def udp_clients(port: int) -> list[object]:
    """This process's UDP sockets connected to ``port``: the clients'."""
    return [c for c in psutil.Process().net_connections("udp") if c.raddr and c.raddr.port == port]


async def assert_udp_client_gone(port: int) -> None:
    """No client socket is left connected to ``port``. A datagram transport closes its
    socket a loop turn after close(): allowed a second."""
    for _ in range(100):
        if not udp_clients(port):
            break
        await asyncio.sleep(0.01)
    assert udp_clients(port) == []
