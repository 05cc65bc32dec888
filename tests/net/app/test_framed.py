"""The exchange the binary application checks share: bounded reads, failures by kind, and
a connection that is closed within a bounded time whatever the server does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sepcheck.net.app import _framed, conn
from sepcheck.net.app._framed import exchange, printable
from sepcheck.net.app.facts import READ_LIMIT, AppFailure, FailureKind


def _never_complete(data: bytes) -> int | None:
    return None


def _four_byte_length(data: bytes) -> int | None:
    return 4 + int.from_bytes(data[:4], "big") if len(data) >= 4 else None


def test_printable_keeps_text_and_escapes_the_rest() -> None:
    assert printable(b"HTTP/1.1 400\r\n\x00\xff\t'\\") == "HTTP/1.1 400\\r\\n\\x00\\xff\\t\\'\\\\"
    assert printable(b"a" * 100) == "a" * conn.SHOWN + "..."


async def test_a_reply_is_cut_at_its_length() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"\x00\x00\x00\x03abc" + b"after")
    reader.feed_eof()
    assert await _framed._read_reply(reader, _four_byte_length) == b"\x00\x00\x00\x03abc"


async def test_no_more_than_read_limit_is_consumed() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(bytes(3 * READ_LIMIT))
    reader.feed_eof()
    with pytest.raises(AppFailure) as failure:
        await _framed._read_reply(reader, _never_complete)
    assert failure.value.kind is FailureKind.NOT_PROTOCOL
    assert f"first {READ_LIMIT} bytes" in failure.value.detail
    assert len(await reader.read()) == 2 * READ_LIMIT


async def test_a_reply_announcing_more_than_read_limit_is_not_read() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data((READ_LIMIT - 3).to_bytes(4, "big") + bytes(READ_LIMIT))
    reader.feed_eof()
    with pytest.raises(AppFailure) as failure:
        await _framed._read_reply(reader, _four_byte_length)
    assert failure.value.kind is FailureKind.NOT_PROTOCOL
    assert f"announces {READ_LIMIT + 1} bytes" in failure.value.detail


@pytest.mark.parametrize(
    ("sent", "detail"),
    [(b"", "without answering"), (b"\x00\x00\x00\x09abc", "after 7 bytes")],
)
async def test_an_end_of_stream_before_the_whole_reply_is_closed(sent: bytes, detail: str) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(sent)
    reader.feed_eof()
    with pytest.raises(AppFailure) as failure:
        await _framed._read_reply(reader, _four_byte_length)
    assert failure.value.kind is FailureKind.CLOSED
    assert detail in failure.value.detail


async def test_a_refused_connection_is_connect() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(AppFailure) as failure:
            await exchange("127.0.0.1", port, b"x", _four_byte_length)
    assert failure.value.kind is FailureKind.CONNECT
    assert failure.value.detail == "connect failed: connection refused"


async def test_a_reset_is_closed() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()  # linger 0: an RST, not a FIN

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(AppFailure) as failure:
            await exchange("127.0.0.1", port, b"x", _never_complete)
    assert failure.value.kind is FailureKind.CLOSED
    assert failure.value.detail == "the server closed the connection: connection reset by peer"


SIZE = 16 << 20
LARGE = bytes(SIZE)
"""Far more than the sockets' buffers hold: sent to a server that reads nothing, most of
it stays queued on our side."""


@asynccontextmanager
async def _deaf_server() -> AsyncIterator[tuple[int, asyncio.Future[int]]]:
    """A server that reads nothing for a while, then counts what arrived until the
    connection ended: its port, and the count's future."""
    loop = asyncio.get_running_loop()
    counted: asyncio.Future[int] = loop.create_future()

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.0)
        count = 0
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(1 << 16):
                count += len(chunk)
        counted.set_result(count)
        writer.close()

    server = await asyncio.start_server(deaf, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], counted


async def test_closing_waits_for_queued_bytes_only_close_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(conn, "CLOSE_GRACE", 0.2)
    async with _deaf_server() as (port, counted):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(LARGE)
        started = time.monotonic()
        await conn.close_stream(writer)
        assert 0.15 < time.monotonic() - started < 0.8
        async with asyncio.timeout(10):
            # Aborted: the rest was dropped, not left to flush in the background.
            assert await counted < SIZE


async def test_a_caller_past_its_deadline_is_not_held_by_the_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(conn, "CLOSE_GRACE", 5.0)
    async with _deaf_server() as (port, counted):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await exchange("127.0.0.1", port, LARGE, _never_complete)
        assert time.monotonic() - started < 0.5
        async with asyncio.timeout(10):
            assert await counted < SIZE
