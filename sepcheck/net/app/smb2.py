"""SMB2 NEGOTIATE (MS-SMB2 2.2.3, 2.2.4): the dialect a file server chooses and whether it
requires signing. Nothing follows the NEGOTIATE: no SESSION_SETUP, no credentials.

On TCP port 445 each SMB2 message is framed as a NetBIOS session message (RFC 1002 4.3.1,
as MS-SMB2 2.1 uses it): a zero byte, then the message's length in 3 bytes, big-endian.
SMB2 fields themselves are little-endian.
"""

from __future__ import annotations

import os
import struct

from sepcheck.net.app._framed import exchange, foreign
from sepcheck.net.app.facts import AppFailure, FailureKind, SmbFacts

FRAME = 4
"""The NetBIOS session message header: type 0x00 (session message), 3-byte length."""
SMB2_ID = b"\xfeSMB"
SMB1_ID = b"\xffSMB"
NEGOTIATE = 0x0000
HEADER = 64
"""An SMB2 header's size (2.2.1.2, its StructureSize)."""

SIGNING_ENABLED, SIGNING_REQUIRED = 0x0001, 0x0002
"""SecurityMode bits (2.2.3 and 2.2.4)."""

DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}
"""The dialects offered, in DialectRevision's words (2.2.3, 2.2.4)."""

PREAUTH_INTEGRITY_CAPABILITIES, ENCRYPTION_CAPABILITIES = 0x0001, 0x0002
SHA_512 = 0x0001
AES_128_CCM, AES_128_GCM = 0x0001, 0x0002
"""Negotiate context types (2.2.3.1), hash (2.2.3.1.1) and cipher ids (2.2.3.1.2)."""

_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")
"""The SYNC header (2.2.1.2): ProtocolId, StructureSize, CreditCharge, Status (requests:
ChannelSequence + Reserved), Command, CreditRequest/CreditResponse, Flags, NextCommand,
MessageId, Reserved (ProcessId), TreeId, SessionId, Signature."""
_REQUEST = struct.Struct("<HHHHI16sIHH")
"""NEGOTIATE request's fixed part (2.2.3): StructureSize 36, DialectCount, SecurityMode,
Reserved, Capabilities, ClientGuid, NegotiateContextOffset, NegotiateContextCount,
Reserved2; the dialects follow."""
_REPLY = struct.Struct("<HHH")
"""NEGOTIATE response's start (2.2.4): StructureSize 65, SecurityMode, DialectRevision."""


def _align8(data: bytes) -> bytes:
    return data + bytes(-len(data) % 8)


def _context(kind: int, data: bytes) -> bytes:
    """A negotiate context (2.2.3.1): ContextType, DataLength, Reserved, Data."""
    return struct.pack("<HHI", kind, len(data), 0) + data


def negotiate_request() -> bytes:
    """A NEGOTIATE offering SMB 2.0.2 to 3.1.1, framed for TCP port 445."""
    header = _HEADER.pack(
        # Status 0, command NEGOTIATE, 1 credit asked, no flags, message id 0 (the first
        # message of a connection), no tree, no session, no signature.
        SMB2_ID,
        HEADER,
        0,
        0,
        NEGOTIATE,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        bytes(16),
    )
    dialects = b"".join(struct.pack("<H", d) for d in DIALECTS)
    # Offering 3.1.1 obliges the client to send a PREAUTH_INTEGRITY_CAPABILITIES context
    # (2.2.3.1.1: SHA-512, a random salt); ENCRYPTION_CAPABILITIES (2.2.3.1.2) lists the
    # ciphers a 3.1.1 client supports, preferred first.
    preauth = struct.pack("<HHH", 1, 32, SHA_512) + os.urandom(32)
    ciphers = struct.pack("<HHH", 2, AES_128_GCM, AES_128_CCM)
    # Each context starts 8-byte aligned, counted from the SMB2 header's start (2.2.3).
    contexts = _align8(_context(PREAUTH_INTEGRITY_CAPABILITIES, preauth)) + _context(
        ENCRYPTION_CAPABILITIES, ciphers
    )
    context_offset = len(_align8(bytes(HEADER + _REQUEST.size + len(dialects))))
    body = _REQUEST.pack(
        36,
        len(DIALECTS),
        SIGNING_ENABLED,
        0,
        0,  # Capabilities: none claimed; the check uses none of them
        os.urandom(16),  # ClientGuid: random, tied to nothing of this machine
        context_offset,
        2,
        0,
    )
    message = _align8(header + body + dialects) + contexts
    return b"\x00" + len(message).to_bytes(3, "big") + message


def reply_length(data: bytes) -> int | None:
    """The framed reply's whole length once its NetBIOS header is read (None until then);
    NOT_PROTOCOL at once for anything that is no NetBIOS session message."""
    if data and data[0] != 0x00:
        raise foreign("an SMB reply", data)
    if len(data) < FRAME:
        return None
    return FRAME + int.from_bytes(data[1:FRAME], "big")


def _message(data: bytes) -> bytes:
    """The SMB message inside the NetBIOS frame, the frame's length checked."""
    total = reply_length(data)
    if total is None or total > len(data):
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"SMB reply cut short after {len(data)} bytes")
    if total < len(data):
        raise AppFailure(
            FailureKind.NOT_PROTOCOL, f"SMB reply followed by {len(data) - total} bytes"
        )
    return data[FRAME:]


def parse_negotiate_reply(data: bytes) -> SmbFacts:
    """The facts of a whole NEGOTIATE response, its NetBIOS header included."""
    message = _message(data)
    if message[:4] == SMB1_ID:
        raise AppFailure(FailureKind.NOT_PROTOCOL, "SMB1 only: the server answered in SMB1")
    if message[:4] != SMB2_ID:
        raise foreign("an SMB2 reply", message)
    if len(message) < HEADER:
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"SMB2 header cut short at {len(message)}")
    _, size, _, status, command, *_ = _HEADER.unpack_from(message)
    if size != HEADER or command != NEGOTIATE:
        raise AppFailure(
            FailureKind.NOT_PROTOCOL,
            f"SMB2 header of size {size} for command 0x{command:04x}, not a NEGOTIATE reply",
        )
    if status != 0:
        raise AppFailure(
            FailureKind.NOT_PROTOCOL, f"refused the negotiation: status 0x{status:08X}"
        )
    if len(message) < HEADER + _REPLY.size:
        raise AppFailure(FailureKind.NOT_PROTOCOL, "SMB2 NEGOTIATE response cut short")
    size, mode, dialect = _REPLY.unpack_from(message, HEADER)
    if size != 65:
        raise AppFailure(
            FailureKind.NOT_PROTOCOL, f"SMB2 NEGOTIATE response of StructureSize {size}, not 65"
        )
    name = DIALECTS.get(dialect)
    if name is None:
        raise AppFailure(FailureKind.NOT_PROTOCOL, f"SMB2 dialect 0x{dialect:04x} was not offered")
    return SmbFacts(
        dialect=name,
        signing_required=bool(mode & SIGNING_REQUIRED),
        signing_enabled=bool(mode & SIGNING_ENABLED),
    )


async def smb2_negotiate(address: str, port: int) -> SmbFacts:
    """Send a NEGOTIATE to ``address``:``port`` and read the server's answer (only that)."""
    reply = await exchange(address, port, negotiate_request(), reply_length)
    return parse_negotiate_reply(reply)
