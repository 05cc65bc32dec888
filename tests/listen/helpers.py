"""A responder on loopback for the tests (ports the kernel chooses), and clients that
speak to it over real sockets. Nothing here binds or probes anything but 127.0.0.1 and
::1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from sepcheck.listen.events import EventLog
from sepcheck.listen.limits import Limits
from sepcheck.listen.ports import PortSpec
from sepcheck.listen.server import Responder
from sepcheck.listen.sockets import bind_ports
from sepcheck.model import Protocol
from sepcheck.net import beacon

KEY = beacon.parse_token("00112233445566778899aabbccddeeff")
OTHER_KEY = beacon.parse_token("ffeeddccbbaa99887766554433221100")
LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class Running:
    responder: Responder
    log: EventLog
    tcp: int
    udp: int


@asynccontextmanager
async def running(limits: Limits | None = None) -> AsyncIterator[Running]:
    """A responder on one TCP and one UDP port of 127.0.0.1 and ::1."""
    bound = bind_ports([PortSpec(Protocol.TCP, 0), PortSpec(Protocol.UDP, 0)], LOOPBACK)
    assert len(bound.listening) == 2, bound.skipped
    log = EventLog((limits or Limits()).events)
    try:
        async with Responder(KEY, bound, log, limits) as responder:
            tcp, udp = (each.port for each in bound.listening)
            yield Running(responder, log, tcp, udp)
    finally:
        bound.close()


def probe(kind: beacon.Kind, port: int, nonce: bytes | None = None, key: bytes = KEY) -> bytes:
    return beacon.encode(key, beacon.Message(kind, port, nonce or beacon.new_nonce(), None))


async def tcp_exchange(address: str, port: int, data: bytes, eof: bool = False) -> bytes:
    """Send ``data``, then read until the responder closes (at most 5 s)."""
    reader, writer = await asyncio.open_connection(address, port)
    received = b""
    try:
        writer.write(data)
        if eof:
            writer.write_eof()
        await writer.drain()
        async with asyncio.timeout(5):
            while len(received) < beacon.SIZE:
                chunk = await reader.read(beacon.SIZE)
                if not chunk:
                    break
                received += chunk
    except ConnectionResetError:
        pass  # closed by a reset (unread data, or an abort): what came before counts
    finally:
        writer.close()
        with suppress(ConnectionResetError):
            await writer.wait_closed()
    return received


def udp_client(address: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.setblocking(False)
    return sock


async def udp_replies(sock: socket.socket, wait: float) -> list[tuple[bytes, tuple[str, int]]]:
    """Every datagram ``sock`` receives within ``wait`` seconds (the loop runs meanwhile)."""
    got: list[tuple[bytes, tuple[str, int]]] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            data, peer = sock.recvfrom(4096)
        except BlockingIOError:
            await asyncio.sleep(0.01)
            continue
        got.append((data, (peer[0], peer[1])))
    return got


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


async def until_equal(count: Callable[[], int], value: int, timeout: float = 5.0) -> None:
    """Let the loop run until ``count()`` reaches ``value``."""
    await until(lambda: count() == value, timeout)
