"""A SQL Server stand-in for the PRELOGIN exchange (SQL Server is not in Debian):

    python -m tests.responders.tds --port 1433 --version 15.0.2000 --encryption off [--wrong]

Listens on the IPv6 wildcard with IPV6_V6ONLY off (IPv4 and IPv6). It reads a PRELOGIN
and answers it with a PRELOGIN reply laid out as MS-TDS 2.2.6.5 documents it (packet type
0x04; VERSION, ENCRYPTION, INSTOPT, THREADID, MARS), then waits for the client to hang up;
a request that is no PRELOGIN is not answered (the connection is closed), as MS-TDS
3.3.5.1 has a server do. ``--wrong`` answers like MySQL instead: its greeting, sent as
soon as a client connects. Prints "ready" once listening; runs until killed.

It is written from the specification, not from ``sepcheck.net.app.tds``: an end-to-end
test against it checks the client against a second reading of MS-TDS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence

ENCRYPTION = {"off": 0x00, "on": 0x01, "not-supported": 0x02, "required": 0x03}
"""B_FENCRYPTION values (MS-TDS 2.2.6.5)."""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def prelogin_reply(version: str, encryption: str, subbuild: int = 0) -> bytes:
    """A server's PRELOGIN reply: ``version`` as major.minor.build, ``encryption`` as one
    of ENCRYPTION's words."""
    major, minor, build = (int(part) for part in version.split("."))
    options = [
        (0x00, struct.pack(">BBHH", major, minor, build, subbuild)),  # VERSION
        (0x01, bytes([ENCRYPTION[encryption]])),  # ENCRYPTION
        (0x02, b"\x00"),  # INSTOPT: the instance name matched (0x00)
        (0x03, b""),  # THREADID: empty in a server's reply
        (0x04, b"\x00"),  # MARS: off
    ]
    start = 5 * len(options) + 1  # the token table and its TERMINATOR
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, start + len(data), len(value))
        data += value
    payload = table + b"\xff" + data
    # Type 0x04 (tabular result), status 0x01 (end of message), length with the header,
    # SPID 0, packet id 1, window 0 (MS-TDS 2.2.3.1).
    return struct.pack(">BBHHBB", 0x04, 0x01, 8 + len(payload), 0, 1, 0) + payload


def mysql_greeting() -> bytes:
    """A MySQL server's first packet (protocol 10 handshake): what a client that expected
    SQL Server reads when the port is someone else's."""
    body = (
        b"\x0a8.0.36\x00"  # protocol version 10, server version
        + struct.pack("<I", 8)  # connection id
        + b"abcdefgh\x00"  # first part of the auth-plugin data
        # capabilities (low half), character set, status, capabilities (high half)
        + struct.pack("<HBHH", 0xFFFF, 0xFF, 0x0002, 0xDFFF)
        + bytes([21])  # length of the auth-plugin data
        + bytes(10)  # reserved
        + b"ijklmnopqrst\x00"  # the rest of the auth-plugin data
        + b"caching_sha2_password\x00"
    )
    return len(body).to_bytes(3, "little") + b"\x00" + body


async def read_prelogin(reader: asyncio.StreamReader) -> bytes | None:
    """The client's PRELOGIN data, or None when what it sent is no PRELOGIN whose first
    option is VERSION (MS-TDS 3.3.5.1) or its options fall outside it."""
    try:
        header = await reader.readexactly(8)
        kind, status, length = struct.unpack(">BBH", header[:4])
        if kind != 0x12 or not status & 0x01 or length < 8:
            return None
        payload = await reader.readexactly(length - 8)
    except asyncio.IncompleteReadError:
        return None
    at = 0
    while at < len(payload) and payload[at] != 0xFF:
        if at + 5 > len(payload):
            return None
        token, offset, size = struct.unpack_from(">BHH", payload, at)
        if (at == 0 and token != 0x00) or offset + size > len(payload):
            return None
        at += 5
    return payload if at < len(payload) else None


def handler(version: str, encryption: str, wrong: bool) -> Handler:
    """The connection handler: answer one PRELOGIN (or greet like MySQL), then wait for
    the client to hang up."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if wrong:
                writer.write(mysql_greeting())
            elif await read_prelogin(reader) is not None:
                writer.write(prelogin_reply(version, encryption))
            else:
                return
            await writer.drain()
            # Like a server waiting for the login: whatever else comes is read and dropped.
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        finally:
            writer.close()

    return serve


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    return sock


async def _serve(port: int, serve: Handler) -> None:
    server = await asyncio.start_server(serve, sock=_listening_socket(port))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def _version(text: str) -> str:
    try:
        prelogin_reply(text, "off")
    except (ValueError, struct.error) as error:
        raise argparse.ArgumentTypeError(f"not major.minor.build: {text!r}") from error
    return text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.responders.tds")
    parser.add_argument("--port", type=int, default=1433)
    parser.add_argument("--version", type=_version, default="15.0.2000", help="major.minor.build")
    parser.add_argument("--encryption", choices=list(ENCRYPTION), default="off")
    parser.add_argument("--wrong", action="store_true", help="answer like MySQL instead")
    args = parser.parse_args(argv)
    serve = handler(args.version, args.encryption, args.wrong)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, serve))


if __name__ == "__main__":
    main()
