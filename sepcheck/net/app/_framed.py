"""One request, one framed reply: the exchange the binary clients (TDS PRELOGIN, SMB2
NEGOTIATE) make. Each connects, sends its one request, reads until its framing says the
reply is whole (never more than ``READ_LIMIT`` bytes) and closes.

The caller imposes the deadline (``asyncio.timeout`` around the client): nothing here
waits on its own, except the short grace ``conn.close_stream`` gives a closing
connection. The words of a failure are ``conn``'s (``foreign``, ``printable``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from sepcheck.net.app.conn import close_stream, foreign, printable
from sepcheck.net.app.facts import READ_LIMIT, AppFailure, FailureKind

__all__ = ["exchange", "foreign", "printable"]

FrameLength = Callable[[bytes], int | None]
"""Given the bytes read so far, the whole reply's length once its framing tells it (None:
read on). Raises ``AppFailure(NOT_PROTOCOL)`` as soon as the bytes cannot start a reply,
so that a server speaking another protocol is named at once, not after a timeout."""


def _describe(error: OSError) -> str:
    # asyncio's own words ("Connect call failed ('192.0.2.1', 1433)") say less than the
    # errno's; a resolver's error (negative errno) has only its own words.
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno).lower()
    return (error.strerror or str(error) or type(error).__name__).lower()


async def exchange(address: str, port: int, request: bytes, frame_length: FrameLength) -> bytes:
    """Send ``request`` on a new connection and return the reply ``frame_length`` frames
    (exactly its bytes, nothing after them)."""
    try:
        # limit: the stream's buffer pauses the socket well before it holds much more
        # than a check may read.
        reader, writer = await asyncio.open_connection(address, port, limit=READ_LIMIT)
    except OSError as error:
        raise AppFailure(FailureKind.CONNECT, f"connect failed: {_describe(error)}") from error
    try:
        writer.write(request)
        await writer.drain()
        return await _read_reply(reader, frame_length)
    except OSError as error:  # reset, broken pipe: the server dropped us mid-exchange
        raise AppFailure(
            FailureKind.CLOSED, f"the server closed the connection: {_describe(error)}"
        ) from error
    finally:
        await close_stream(writer)


async def _read_reply(reader: asyncio.StreamReader, frame_length: FrameLength) -> bytes:
    data = b""
    while True:
        total = frame_length(data)
        if total is not None:
            if total > READ_LIMIT:
                raise AppFailure(
                    FailureKind.NOT_PROTOCOL,
                    f"reply announces {total} bytes, more than the {READ_LIMIT} a check reads",
                )
            if len(data) >= total:
                return data[:total]
        if len(data) >= READ_LIMIT:
            raise AppFailure(
                FailureKind.NOT_PROTOCOL, f"no complete reply in the first {READ_LIMIT} bytes"
            )
        # At most what the reply still needs (or what READ_LIMIT leaves while its
        # length is unknown): nothing beyond it is ever consumed.
        wanted = (total if total is not None else READ_LIMIT) - len(data)
        chunk = await reader.read(wanted)
        if not chunk:
            said = f"after {len(data)} bytes of its reply" if data else "without answering"
            raise AppFailure(FailureKind.CLOSED, f"the server closed the connection {said}")
        data += chunk
