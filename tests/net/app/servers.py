"""Small asyncio servers for the protocol clients' tests: each listens on a loopback
address, port 0, runs one handler per connection and, when the test leaves it, ends
every connection it still holds (no task or socket outlives the test)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import psutil

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

CRLF2 = b"\r\n\r\n"


@dataclass
class Served:
    """A running server: where it listens and what its connections did."""

    host: str
    port: int
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a connection's handler has returned and its socket is closed."""
    open: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)
    """The connections whose handler still runs."""

    async def wait_ended(self, seconds: float = 2.0) -> None:
        async with asyncio.timeout(seconds):
            await self.ended.wait()


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> AsyncIterator[Served]:
    served: Served

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        served.open[task] = writer
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass  # the client went away: what the tests make it do
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1):
                    await writer.wait_closed()
            except (TimeoutError, OSError):
                writer.transport.abort()
            del served.open[task]
            served.ended.set()

    server = await asyncio.start_server(connection, host, 0, ssl=tls)
    served = Served(host, server.sockets[0].getsockname()[1])
    try:
        yield served
    finally:
        server.close()
        await _end(served.open)
        await server.wait_closed()


async def _end(handlers: dict[asyncio.Task[None], asyncio.StreamWriter]) -> None:
    """End the connections still open: each socket is aborted, so that its handler sees
    the end of its stream (or a reset) and returns; one that waits on something else
    (a test that failed half way) is cancelled after a second."""
    tasks = list(handlers)
    for writer in handlers.values():
        writer.transport.abort()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=1)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request's head (up to and including its blank line), or what came before EOF."""
    try:
        return await reader.readuntil(CRLF2)
    except asyncio.IncompleteReadError as error:
        return error.partial


def replying(data: bytes, *, read_first: bool = True) -> Handler:
    """A handler that (after reading the request's head) sends ``data`` and closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if read_first:
            await read_request(reader)
        writer.write(data)
        await writer.drain()

    return handler


def reset(writer: asyncio.StreamWriter) -> None:
    """End the connection with a RST (SO_LINGER 0), as a crashing server or a firewall."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def client_sockets(port: int) -> list[object]:
    """This process's TCP sockets connected to ``port``: the clients' ends (the server's
    ends have ``port`` as their local port)."""
    return [c for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port]


async def assert_client_gone(served: Served) -> None:
    """No socket of this process is connected to ``served`` any more and no task is left
    but the test's and the server's handlers: a client that returned (or was cancelled)
    left nothing behind. Closing takes the loop a turn or two: allowed a second."""
    for _ in range(100):
        if not client_sockets(served.port):
            break
        await asyncio.sleep(0.01)
    assert client_sockets(served.port) == []
    assert asyncio.all_tasks() - {asyncio.current_task(), *served.open} == set()
