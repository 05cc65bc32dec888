"""SQL Server's TDS PRELOGIN (MS-TDS 2.2.6.5): the server's version and its encryption
setting, read from its answer to a PRELOGIN. Nothing follows the PRELOGIN: no TLS, no
LOGIN7, no credentials.

Layout (MS-TDS): a message is one or more packets, each an 8-byte header (2.2.3.1: type,
status, length of the packet including its header (big-endian), SPID, packet id, window)
and its data; the status bit EOM marks the message's last packet. A PRELOGIN's data is a
table of option tokens (token byte, offset and length as big-endian USHORTs, the offset
counted from the start of the data) closed by the TERMINATOR 0xFF, then the options' data.
"""

from __future__ import annotations

import struct

from sepcheck.net.app._framed import exchange, foreign
from sepcheck.net.app.facts import AppFailure, FailureKind, TdsFacts

PRELOGIN = 0x12
"""Packet type of a PRELOGIN message (2.2.3.1.1)."""
REPLY = 0x04
"""Packet type of the server's answer, "tabular result" (2.2.3.1.1; 2.2.6.5)."""
EOM = 0x01
"""Status bit: the last packet of the message (2.2.3.1.2)."""
HEADER = 8

VERSION, ENCRYPTION, INSTOPT, THREADID, TERMINATOR = 0x00, 0x01, 0x02, 0x03, 0xFF
"""PL_OPTION_TOKEN values (2.2.6.5)."""

ENCRYPT_OFF = 0x00
ENCRYPTION_WORDS = {0x00: "off", 0x01: "on", 0x02: "not-supported", 0x03: "required"}
"""B_FENCRYPTION values (2.2.6.5: ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ)."""

_OPTION = struct.Struct(">BHH")
"""One entry of the token table: PL_OPTION_TOKEN, PL_OFFSET, PL_OPTION_LENGTH."""


def prelogin_request() -> bytes:
    """A PRELOGIN message in one packet (2.2.6.5; the sample in 4.1 has the same shape)."""
    options = [
        # UL_VERSION + US_SUBBUILD: the sender's version; 9.0.0.0 as in the sample (4.1).
        (VERSION, bytes([9, 0, 0, 0, 0, 0])),
        # ENCRYPT_OFF: "encryption is available but off" (2.2.6.5). The answer then says
        # what the server enforces; this check reads it and never starts TLS.
        (ENCRYPTION, bytes([ENCRYPT_OFF])),
        # B_INSTVALIDITY: an empty instance name, just its NUL (the default instance).
        (INSTOPT, b"\x00"),
        # UL_THREADID: the client's thread id, for the server's debugging only; 0 says none.
        (THREADID, bytes(4)),
    ]
    table_size = _OPTION.size * len(options) + 1  # + TERMINATOR
    table, data = b"", b""
    for token, value in options:
        table += _OPTION.pack(token, table_size + len(data), len(value))
        data += value
    payload = table + bytes([TERMINATOR]) + data
    # Status EOM (one packet), SPID 0 (client to server), packet id 1, window 0 (2.2.3.1).
    return struct.pack(">BBHHBB", PRELOGIN, EOM, HEADER + len(payload), 0, 1, 0) + payload


def reply_length(data: bytes) -> int | None:
    """The length of the whole reply message once its packet headers tell it (None until
    then); NOT_PROTOCOL as soon as a packet cannot be part of a PRELOGIN answer."""
    offset = 0
    while offset < len(data):
        if data[offset] != REPLY:
            raise foreign("a TDS PRELOGIN reply", data)
        if len(data) < offset + HEADER:
            return None
        status = data[offset + 1]
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if length < HEADER:
            raise AppFailure(
                FailureKind.NOT_PROTOCOL, f"TDS packet length {length} is shorter than its header"
            )
        offset += length
        if status & EOM:
            return offset
    return None


def _payload(data: bytes) -> bytes:
    """The message's data: its packets' data joined, the headers checked."""
    total = reply_length(data)
    if total is None:
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"TDS reply cut short after {len(data)} bytes")
    if total != len(data):
        what = "cut short" if total > len(data) else f"followed by {len(data) - total} bytes"
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"TDS reply of {total} bytes {what}")
    payload, offset = b"", 0
    while offset < total:
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        payload += data[offset + HEADER : offset + length]
        offset += length
    return payload


def _options(payload: bytes) -> dict[int, bytes]:
    """The option tokens' data, walked with every offset and length checked."""
    options: dict[int, bytes] = {}
    at = 0
    while True:
        if at >= len(payload):
            raise AppFailure(FailureKind.NOT_PROTOCOL, "PRELOGIN reply without TERMINATOR")
        if payload[at] == TERMINATOR:
            return options
        if at + _OPTION.size > len(payload):
            raise AppFailure(FailureKind.NOT_PROTOCOL, "PRELOGIN option table cut short")
        token, offset, length = _OPTION.unpack_from(payload, at)
        if offset + length > len(payload):
            raise AppFailure(
                FailureKind.NOT_PROTOCOL,
                f"PRELOGIN option 0x{token:02x} points beyond the reply "
                f"({offset}+{length} > {len(payload)})",
            )
        if token in options:
            raise AppFailure(FailureKind.NOT_PROTOCOL, f"PRELOGIN option 0x{token:02x} twice")
        options[token] = payload[offset : offset + length]
        at += _OPTION.size


def _option(options: dict[int, bytes], token: int, name: str, size: int) -> bytes:
    value = options.get(token)
    if value is None:
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"PRELOGIN reply without {name}")
    if len(value) != size:
        raise AppFailure(
            FailureKind.NOT_PROTOCOL, f"PRELOGIN {name} of {len(value)} bytes, not {size}"
        )
    return value


def parse_prelogin_reply(data: bytes) -> TdsFacts:
    """The facts of a whole PRELOGIN reply (its packet headers included)."""
    options = _options(_payload(data))
    # UL_VERSION, big-endian: major, minor, then the build as a USHORT; US_SUBBUILD after.
    major, minor, build, subbuild = struct.unpack(">BBHH", _option(options, VERSION, "VERSION", 6))
    (encryption,) = _option(options, ENCRYPTION, "ENCRYPTION", 1)
    word = ENCRYPTION_WORDS.get(encryption)
    if word is None:
        raise AppFailure(
            FailureKind.NOT_PROTOCOL, f"PRELOGIN ENCRYPTION 0x{encryption:02x} is none of 0-3"
        )
    return TdsFacts(version=f"{major}.{minor}.{build}", subbuild=subbuild, encryption=word)


async def tds_prelogin(address: str, port: int) -> TdsFacts:
    """Send a PRELOGIN to ``address``:``port`` and read the server's answer (only that)."""
    reply = await exchange(address, port, prelogin_request(), reply_length)
    return parse_prelogin_reply(reply)
