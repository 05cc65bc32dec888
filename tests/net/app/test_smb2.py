"""SMB2 NEGOTIATE: the request byte for byte against MS-SMB2 2.2.3, replies from a real
Samba and built from MS-SMB2 2.2.4, broken replies, and the client end to end against
servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sepcheck.net.app.facts import AppFailure, FailureKind, SmbFacts
from sepcheck.net.app.smb2 import (
    negotiate_request,
    parse_negotiate_reply,
    reply_length,
    smb2_negotiate,
)

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Replies of Samba 4.17.12-Debian (smbd) to this client's NEGOTIATE, captured on 127.0.0.1
# in a private network namespace (a throwaway smb.conf: standalone server, its private,
# lock, pid, state and cache directories in a temporary folder) while writing this test.
# They hold nothing secret: a server GUID, clock times, the SPNEGO hint, a random salt.
SAMBA_MANDATORY = bytes.fromhex(  # server signing = mandatory: 3.1.1, SecurityMode 0x03
    "000000fefe534d4240000000000000000000010001000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000004100030011030100766d000000000000000000000000000007000000"
    "00008000000080000000800074e60d080380dd01000000000000000080004a00d0000000604806062b0601050502a03e"
    "303ca00e300c060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e5f52464334313738"
    "40706c656173655f69676e6f726500000000000001002600000000000100200001009e2ba1e4daee2a27eb381eca9d2f"
    "a40102af80f15dbe4c827a57cceeebc93cbd"
)
SAMBA_AUTO = bytes.fromhex(  # server signing = auto: 3.1.1, SecurityMode 0x01
    "000000fefe534d4240000000000000000000010001000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000004100010011030100766d000000000000000000000000000007000000"
    "000080000000800000008000660c46080380dd01000000000000000080004a00d0000000604806062b0601050502a03e"
    "303ca00e300c060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e5f52464334313738"
    "40706c656173655f69676e6f72650000000000000100260000000000010020000100f7be5a3caf1ea48300f09e031c7c"
    "c7bcf45e1cf25fe641ffd3dd78ac75bd9536"
)
SAMBA_SMB2_10 = bytes.fromhex(  # server max protocol = SMB2_10: dialect 2.1, no contexts
    "000000cafe534d4240000000000000000000010001000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000004100010010020000766d000000000000000000000000000007000000"
    "0000800000008000000080008894fe540380dd01000000000000000080004a0000000000604806062b0601050502a03e"
    "303ca00e300c060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e5f52464334313738"
    "40706c656173655f69676e6f7265"
)
# (With server min and max protocol = NT1, the same Samba closes the connection unanswered.)


def _reply(
    dialect: int = 0x0311,
    mode: int = 0x01,
    *,
    status: int = 0,
    command: int = 0,
    size: int = 65,
    protocol: bytes = b"\xfeSMB",
) -> bytes:
    """A NEGOTIATE response as MS-SMB2 lays it out: the SYNC header (2.2.1.2) with
    SMB2_FLAGS_SERVER_TO_REDIR, and the response's 64 fixed bytes (2.2.4), no buffer."""
    header = protocol + struct.pack("<HHIHHIIQIIQ", 64, 0, status, command, 1, 1, 0, 0, 0, 0, 0)
    body = struct.pack(
        "<HHHH16sIIII", size, mode, dialect, 0, bytes(16), 0x2F, 1 << 20, 1 << 20, 1 << 20
    )
    body += bytes(8 + 8) + struct.pack("<HHI", 128, 0, 0)  # times, no security buffer
    message = header + bytes(16) + body
    return b"\x00" + len(message).to_bytes(3, "big") + message


# -- the request ------------------------------------------------------------------------


def test_the_request_is_a_negotiate_laid_out_as_ms_smb2_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "urandom", lambda n: bytes([n]) * n)
    assert (
        negotiate_request()
        == bytes.fromhex(
            "00 0000ae"  # NetBIOS session message, 174 bytes
            # SMB2 header: id, StructureSize 64, CreditCharge 0, ChannelSequence/Reserved 0,
            # Command NEGOTIATE, CreditRequest 1, Flags 0, NextCommand 0, MessageId 0,
            # Reserved 0, TreeId 0, SessionId 0, Signature 0
            "fe534d42 4000 0000 00000000 0000 0100 00000000 00000000 0000000000000000"
            "00000000 00000000 0000000000000000 00000000000000000000000000000000"
            # NEGOTIATE: StructureSize 36, 5 dialects, SIGNING_ENABLED, Reserved, Capabilities 0,
            # ClientGuid (16 random bytes), NegotiateContextOffset 112, 2 contexts, Reserved2
            "2400 0500 0100 0000 00000000" + "10" * 16 + "70000000 0200 0000"
            "0202 1002 0003 0203 1103"  # 2.0.2, 2.1, 3.0, 3.0.2, 3.1.1
            "0000"  # to 112, 8-byte aligned
            # PREAUTH_INTEGRITY_CAPABILITIES, 38 bytes: 1 hash, 32-byte salt, SHA-512, the salt
            "0100 2600 00000000 0100 2000 0100" + "20" * 32 + "0000"  # to 160
            # ENCRYPTION_CAPABILITIES, 6 bytes: 2 ciphers, AES-128-GCM, AES-128-CCM
            "0200 0600 00000000 0200 0200 0100"
        )
    )


def test_the_guid_and_the_salt_are_random_and_nothing_else() -> None:
    first, second = negotiate_request(), negotiate_request()
    differ = {i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b}
    guid, salt = set(range(4 + 76, 4 + 92)), set(range(4 + 126, 4 + 158))  # see above
    assert differ <= guid | salt
    assert differ & guid
    assert differ & salt


def test_the_contexts_are_where_the_request_says() -> None:
    message = negotiate_request()[4:]
    (count,) = struct.unpack_from("<H", message, 66)  # DialectCount
    offset, contexts = struct.unpack_from("<IH", message, 92)  # NegotiateContextOffset, -Count
    assert (count, offset % 8, contexts) == (5, 0, 2)
    assert offset >= 100 + 2 * count
    kinds = []
    while offset < len(message):
        assert offset % 8 == 0
        kind, length = struct.unpack_from("<HH", message, offset)
        kinds.append(kind)
        offset += 8 + length
        offset += -offset % 8 if offset < len(message) else 0
    assert (kinds, offset) == ([1, 2], len(message))


# -- replies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "facts"),
    [
        (SAMBA_MANDATORY, SmbFacts("3.1.1", signing_required=True, signing_enabled=True)),
        (SAMBA_AUTO, SmbFacts("3.1.1", signing_required=False, signing_enabled=True)),
        (SAMBA_SMB2_10, SmbFacts("2.1", signing_required=False, signing_enabled=True)),
    ],
)
def test_samba_replies(reply: bytes, facts: SmbFacts) -> None:
    assert reply_length(reply) == len(reply)
    assert parse_negotiate_reply(reply) == facts


@pytest.mark.parametrize(
    ("dialect", "name"),
    [(0x0202, "2.0.2"), (0x0210, "2.1"), (0x0300, "3.0"), (0x0302, "3.0.2"), (0x0311, "3.1.1")],
)
def test_the_dialect_is_named(dialect: int, name: str) -> None:
    assert parse_negotiate_reply(_reply(dialect)).dialect == name


@pytest.mark.parametrize(
    ("mode", "enabled", "required"),
    [(0x00, False, False), (0x01, True, False), (0x02, False, True), (0x03, True, True)],
)
def test_the_signing_bits_are_read(mode: int, enabled: bool, required: bool) -> None:
    facts = parse_negotiate_reply(_reply(mode=mode))
    assert (facts.signing_enabled, facts.signing_required) == (enabled, required)


def _smb1_reply() -> bytes:
    message = b"\xffSMB\x72" + bytes(27) + b"\x11" + bytes(40)
    return b"\x00" + len(message).to_bytes(3, "big") + message


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (_smb1_reply(), "SMB1 only"),
        (_reply(status=0xC00000BB, size=9), "refused the negotiation: status 0xC00000BB"),
        (
            b"HTTP/1.1 400 Bad Request\r\n",
            "not an SMB reply: first bytes 'HTTP/1.1 400 Bad Request\\r\\n'",
        ),
        (b"", "cut short after 0 bytes"),
        (_reply()[:-1], "cut short after 131 bytes"),
        (_reply() + b"\x00", "followed by 1 bytes"),
        (b"\x00\x00\x00\x04abcd", "not an SMB2 reply: first bytes 'abcd'"),
        (b"\x00\x00\x00\x08\xfeSMB\x40\x00\x00\x00", "SMB2 header cut short at 8"),
        (_reply(command=0x0001), "for command 0x0001, not a NEGOTIATE reply"),
        (_reply(size=9), "StructureSize 9, not 65"),
        (_reply(0x02FF), "dialect 0x02ff was not offered"),
    ],
)
def test_a_malformed_reply_is_not_the_protocol(reply: bytes, detail: str) -> None:
    with pytest.raises(AppFailure) as failure:
        parse_negotiate_reply(reply)
    assert failure.value.kind is FailureKind.NOT_PROTOCOL
    assert detail in failure.value.detail


def test_a_reply_too_short_for_its_response_is_not_the_protocol() -> None:
    message = _reply()[4 : 4 + 64 + 4]
    with pytest.raises(AppFailure, match="NEGOTIATE response cut short"):
        parse_negotiate_reply(b"\x00" + len(message).to_bytes(3, "big") + message)


def _kind(parse: Callable[[bytes], object], data: bytes) -> FailureKind | None:
    try:
        parse(data)
    except AppFailure as failure:
        return failure.kind
    return None


def _facts_or_failure(data: bytes) -> None:
    """Facts or NOT_PROTOCOL; any other exception fails the test."""
    assert _kind(parse_negotiate_reply, data) in (None, FailureKind.NOT_PROTOCOL)
    assert _kind(reply_length, data) in (None, FailureKind.NOT_PROTOCOL)


@BOUNDED
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_facts_or_a_failure(data: bytes) -> None:
    _facts_or_failure(data)
    _facts_or_failure(b"\x00" + len(data).to_bytes(3, "big") + data)  # past the frame
    _facts_or_failure(SAMBA_AUTO[:8] + data)  # past the protocol id


@BOUNDED
@given(st.integers(0, len(SAMBA_AUTO) - 1), st.integers(0, 255), st.integers(0, len(SAMBA_AUTO)))
def test_a_damaged_reply_gives_facts_or_a_failure(at: int, value: int, cut: int) -> None:
    damaged = SAMBA_AUTO[:at] + bytes([value]) + SAMBA_AUTO[at + 1 :]
    _facts_or_failure(damaged)
    _facts_or_failure(damaged[:cut])
    message = damaged[4:cut]  # cut, and framed again: the NetBIOS length still right
    _facts_or_failure(b"\x00" + len(message).to_bytes(3, "big") + message)


# -- end to end -------------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def _serving(handle: Handler) -> AsyncIterator[int]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def _answering(answer: bytes, received: asyncio.Future[bytes] | None = None) -> Handler:
    """A server that reads one framed request, answers ``answer``, and sets ``received``
    to all the client sent until it hung up."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frame = await reader.readexactly(4)
        request = frame + await reader.readexactly(int.from_bytes(frame[1:], "big"))
        writer.write(answer)
        if received is not None:
            received.set_result(request + await reader.read())

    return serve


async def test_the_client_reads_the_dialect_and_sends_only_the_negotiate() -> None:
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    async with _serving(_answering(SAMBA_MANDATORY, received)) as port:
        async with asyncio.timeout(5):
            facts = await smb2_negotiate("127.0.0.1", port)
            sent = await received
    assert facts == SmbFacts("3.1.1", signing_required=True, signing_enabled=True)
    assert len(sent) == len(negotiate_request())  # one NEGOTIATE, alone
    assert sent[4:8] == b"\xfeSMB"
    assert sent[16:18] == b"\x00\x00"


@pytest.mark.parametrize(
    ("answer", "kind", "detail"),
    [
        (_smb1_reply(), FailureKind.NOT_PROTOCOL, "SMB1 only"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", FailureKind.NOT_PROTOCOL, "not an SMB reply"),
        (b"", FailureKind.CLOSED, "without answering"),
        (SAMBA_AUTO[:50], FailureKind.CLOSED, "after 50 bytes of its reply"),
        (b"\x00\xff\xff\xff", FailureKind.NOT_PROTOCOL, "announces 16777219 bytes"),
    ],
)
async def test_a_wrong_or_closing_server(answer: bytes, kind: FailureKind, detail: str) -> None:
    async with _serving(_answering(answer)) as port:
        async with asyncio.timeout(5):
            with pytest.raises(AppFailure) as failure:
                await smb2_negotiate("127.0.0.1", port)
    assert failure.value.kind is kind
    assert detail in failure.value.detail
