"""SSH: the server's identification string, which it sends first (RFC 4253 section 4.2).

Nothing is sent: the check connects, reads up to the ``SSH-`` line and closes. The server
may send other lines before it (they must not begin with ``SSH-``); a line is at most
255 bytes with its CR LF. A server that speaks first in another protocol and then waits
for the client (FTP, SMTP) sends no ``SSH-`` line: only the caller's deadline ends that.
"""

from __future__ import annotations

import asyncio
import re
from typing import NoReturn

from sepcheck.net.app.conn import close_stream, foreign, lost, open_stream
from sepcheck.net.app.facts import READ_LIMIT, AppFailure, FailureKind, SshFacts

MAX_LINE = 255
"""The longest line allowed, CR LF included (RFC 4253 section 4.2)."""

_VERSION = re.compile(r"\d+\.\d+")
"""protoversion: 2.0, or 1.99 from a server that also speaks SSH 1."""


async def ssh_banner(address: str, port: int) -> SshFacts:
    """Connect, read the server's identification string and close."""
    reader, writer, _ = await open_stream(address, port)
    try:
        return await _read_banner(reader)
    finally:
        await close_stream(writer)


async def _read_banner(reader: asyncio.StreamReader) -> SshFacts:
    seen = bytearray()
    start = 0  # where the line being read begins in ``seen``
    while True:
        while (end := seen.find(b"\n", start)) != -1:
            line = bytes(seen[start : end + 1])
            if len(line) > MAX_LINE:
                raise foreign("SSH (a line longer than 255 bytes)", bytes(seen))
            if line.startswith(b"SSH-"):
                return parse_banner(line, bytes(seen))
            _text_line(line, bytes(seen))
            start = end + 1
        _text_line(bytes(seen[start:]), bytes(seen))
        if len(seen) - start >= MAX_LINE:
            raise foreign("SSH (a line longer than 255 bytes)", bytes(seen))
        if len(seen) >= READ_LIMIT:
            raise foreign(f"SSH (no SSH- line in {READ_LIMIT} bytes)", bytes(seen))
        try:
            chunk = await reader.read(READ_LIMIT - len(seen))
        except OSError as error:
            raise lost(
                error, "before its identification" if seen else "before answering"
            ) from error
        if not chunk:
            _ended(bytes(seen), bytes(seen[start:]))
        seen += chunk


def _text_line(line: bytes, seen: bytes) -> None:
    """A line before the banner is text (RFC 4253 section 4.2: UTF-8, and the banner has no
    NUL): a NUL there is a binary protocol's greeting (MySQL's), named at once rather than
    at the caller's deadline. What follows the banner (the key exchange) is never looked
    at."""
    if b"\x00" in line and not line.startswith(b"SSH-"):
        raise foreign("SSH", seen)


def _ended(seen: bytes, last: bytes) -> NoReturn:
    """The stream ended before an ``SSH-`` line was complete."""
    if not seen:
        raise AppFailure(FailureKind.CLOSED, "the server closed the connection without answering")
    if last.startswith(b"SSH-"):
        raise AppFailure(
            FailureKind.CLOSED, "the server closed the connection in its identification line"
        )
    raise foreign("SSH", seen)


def parse_banner(line: bytes, seen: bytes) -> SshFacts:
    """The facts of the identification line ``line`` (``SSH-2.0-software comments``, CR
    LF ending it); NOT_PROTOCOL (showing ``seen``) when its version is not one."""
    text = line.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "replace")
    protocol, _, software = text.removeprefix("SSH-").partition("-")
    if not _VERSION.fullmatch(protocol):
        raise foreign("SSH (no protocol version after SSH-)", seen)
    return SshFacts(banner=text, protocol=protocol, software=software)
