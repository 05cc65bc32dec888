"""TDS PRELOGIN: the request byte for byte against MS-TDS 2.2.6.5, replies laid out as the
specification documents them (built by hand and by the lab responder), broken replies, and
the client end to end against the responder and against servers that misbehave."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sepcheck.net.app.facts import AppFailure, FailureKind, TdsFacts
from sepcheck.net.app.tds import parse_prelogin_reply, prelogin_request, reply_length, tds_prelogin
from tests.responders import tds as responder

ROOT = Path(__file__).resolve().parents[3]
BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A PRELOGIN reply as MS-TDS 2.2.6.5 lays it out, written out by hand: SQL Server 15.0.2000
# (subbuild 0) whose encryption is not supported.
SPEC_REPLY = bytes.fromhex(
    "04 01 00 2b 00 00 01 00"  # type 0x04, status EOM, length 43, SPID 0, packet 1, window 0
    "00 00 1a 00 06"  # VERSION at 26, 6 bytes
    "01 00 20 00 01"  # ENCRYPTION at 32, 1 byte
    "02 00 21 00 01"  # INSTOPT at 33, 1 byte
    "03 00 22 00 00"  # THREADID at 34, empty (as servers send it)
    "04 00 22 00 01"  # MARS at 34, 1 byte
    "ff"  # TERMINATOR
    "0f 00 07 d0 00 00"  # UL_VERSION 15.0.2000 (big-endian), US_SUBBUILD 0
    "02"  # ENCRYPT_NOT_SUP
    "00"  # INSTOPT: instance matched
    "00"  # MARS off
)


def _packet(payload: bytes, *, status: int = 0x01, kind: int = 0x04) -> bytes:
    return struct.pack(">BBHHBB", kind, status, 8 + len(payload), 0, 1, 0) + payload


def _prelogin(*options: tuple[int, bytes]) -> bytes:
    """A PRELOGIN payload: the token table, TERMINATOR, the options' data."""
    start = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, start + len(data), len(value))
        data += value
    return table + b"\xff" + data


VERSION_15 = (0x00, bytes.fromhex("0f0007d00000"))

# -- the request ------------------------------------------------------------------------


def test_the_request_is_a_prelogin_laid_out_as_ms_tds_says() -> None:
    assert prelogin_request() == bytes.fromhex(
        "12 01 00 29 00 00 01 00"  # PRELOGIN, EOM, 41 bytes, SPID 0, packet 1, window 0
        "00 00 15 00 06"  # VERSION at 21 (after 4 tokens of 5 bytes and the TERMINATOR)
        "01 00 1b 00 01"  # ENCRYPTION at 27
        "02 00 1c 00 01"  # INSTOPT at 28
        "03 00 1d 00 04"  # THREADID at 29
        "ff"
        "09 00 00 00 00 00"  # VERSION 9.0.0, subbuild 0 (the sample of MS-TDS 4.1)
        "00"  # ENCRYPT_OFF
        "00"  # the default instance: an empty name and its NUL
        "00 00 00 00"  # thread id 0
    )


async def test_the_lab_responder_accepts_the_request() -> None:
    """A second, independent reading of the layout (MS-TDS 3.3.5.1's server rules)."""
    reader = asyncio.StreamReader()
    reader.feed_data(prelogin_request())
    reader.feed_eof()
    assert await responder.read_prelogin(reader) is not None


# -- replies ----------------------------------------------------------------------------


def test_a_reply_written_from_the_specification() -> None:
    assert parse_prelogin_reply(SPEC_REPLY) == TdsFacts("15.0.2000", 0, "not-supported")
    assert responder.prelogin_reply("15.0.2000", "not-supported") == SPEC_REPLY


@pytest.mark.parametrize("encryption", ["off", "on", "not-supported", "required"])
def test_the_encryption_setting_is_read(encryption: str) -> None:
    reply = responder.prelogin_reply("16.0.1000", encryption, subbuild=6)
    assert parse_prelogin_reply(reply) == TdsFacts("16.0.1000", 6, encryption)


def test_build_and_subbuild_are_big_endian() -> None:
    version = (0x00, bytes([10, 50, 0x06, 0x40, 0x01, 0x02]))
    reply = _packet(_prelogin(version, (0x01, b"\x00")))
    assert parse_prelogin_reply(reply) == TdsFacts("10.50.1600", 258, "off")


def test_a_reply_over_several_packets_is_joined() -> None:
    payload = SPEC_REPLY[8:]
    reply = _packet(payload[:10], status=0x00) + _packet(payload[10:])
    assert reply_length(reply) == len(reply)
    assert parse_prelogin_reply(reply) == parse_prelogin_reply(SPEC_REPLY)


def test_the_length_is_known_once_the_last_header_is_read() -> None:
    two = _packet(SPEC_REPLY[8:20], status=0x00) + _packet(SPEC_REPLY[20:])
    first_end = 8 + 12
    assert [reply_length(two[:n]) for n in (0, 1, 7, first_end, first_end + 7)] == [None] * 5
    assert reply_length(two[: first_end + 8]) == len(two)


def _one_at(reply: bytes, at: int, value: int) -> bytes:
    return reply[:at] + bytes([value]) + reply[at + 1 :]


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (b"", "cut short after 0 bytes"),
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            "not a TDS PRELOGIN reply: first bytes 'HTTP/1.1 400 Bad Request\\r\\n\\r\\n'",
        ),
        (_one_at(SPEC_REPLY, 0, 0x12), "not a TDS PRELOGIN reply"),
        (SPEC_REPLY[:-1], "TDS reply of 43 bytes cut short"),
        (SPEC_REPLY + b"\x00", "followed by 1 bytes"),
        (_one_at(SPEC_REPLY, 1, 0x00), "cut short after 43 bytes"),  # no EOM
        (_one_at(SPEC_REPLY, 3, 0x07), "shorter than its header"),
        (_packet(b""), "without TERMINATOR"),
        (_packet(bytes.fromhex("01 00 00 00 01 00 00 00 00 00")), "without TERMINATOR"),
        (_packet(b"\x00\x00\x05"), "option table cut short"),
        (_packet(_prelogin((0x01, b"\x00"))[:-1]), "0x01 points beyond the reply (6+1 > 6)"),
        (_packet(_prelogin((0x01, b"\x00"))), "without VERSION"),
        (_packet(_prelogin(VERSION_15)), "without ENCRYPTION"),
        (_packet(_prelogin((0x00, b"\x0f\x00\x07\xd0"), (0x01, b"\x00"))), "VERSION of 4 bytes"),
        (_packet(_prelogin(VERSION_15, (0x01, b""))), "ENCRYPTION of 0 bytes, not 1"),
        (_packet(_prelogin(VERSION_15, (0x01, b"\x80"))), "ENCRYPTION 0x80 is none of 0-3"),
        (_packet(_prelogin(VERSION_15, VERSION_15, (0x01, b"\x00"))), "option 0x00 twice"),
    ],
)
def test_a_malformed_reply_is_not_the_protocol(reply: bytes, detail: str) -> None:
    with pytest.raises(AppFailure) as failure:
        parse_prelogin_reply(reply)
    assert failure.value.kind is FailureKind.NOT_PROTOCOL
    assert detail in failure.value.detail


def _kind(parse: Callable[[bytes], object], data: bytes) -> FailureKind | None:
    try:
        parse(data)
    except AppFailure as failure:
        return failure.kind
    return None


def _facts_or_failure(data: bytes) -> None:
    """Facts or NOT_PROTOCOL; any other exception fails the test."""
    assert _kind(parse_prelogin_reply, data) in (None, FailureKind.NOT_PROTOCOL)
    assert _kind(reply_length, data) in (None, FailureKind.NOT_PROTOCOL)


@BOUNDED
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_facts_or_a_failure(data: bytes) -> None:
    _facts_or_failure(data)
    _facts_or_failure(_packet(data))  # past the header, into the token table


@BOUNDED
@given(
    st.integers(0, len(SPEC_REPLY) - 1),
    st.integers(0, 255),
    st.integers(0, len(SPEC_REPLY)),
)
def test_a_damaged_reply_gives_facts_or_a_failure(at: int, value: int, cut: int) -> None:
    damaged = _one_at(SPEC_REPLY, at, value)
    _facts_or_failure(damaged)
    _facts_or_failure(damaged[:cut])
    _facts_or_failure(_packet(damaged[8:cut]))  # cut, and framed again: the length right


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


@pytest.mark.parametrize("encryption", ["off", "on", "not-supported", "required"])
async def test_the_client_reads_the_responder(encryption: str) -> None:
    async with _serving(responder.handler("14.0.3456", encryption, wrong=False)) as port:
        async with asyncio.timeout(5):
            facts = await tds_prelogin("127.0.0.1", port)
    assert facts == TdsFacts("14.0.3456", 0, encryption)


async def test_another_product_is_not_the_protocol() -> None:
    async with _serving(responder.handler("15.0.2000", "off", wrong=True)) as port:
        async with asyncio.timeout(5):
            with pytest.raises(AppFailure) as failure:
                await tds_prelogin("127.0.0.1", port)
    assert failure.value.kind is FailureKind.NOT_PROTOCOL
    assert (
        "not a TDS PRELOGIN reply: first bytes 'J\\x00\\x00\\x00\\n8.0.36\\x00"
        in failure.value.detail
    )


@pytest.mark.parametrize(
    ("answer", "detail"),
    [(b"", "without answering"), (SPEC_REPLY[:20], "after 20 bytes of its reply")],
)
async def test_a_server_that_closes_is_closed(answer: bytes, detail: str) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(answer)

    async with _serving(close) as port:
        async with asyncio.timeout(5):
            with pytest.raises(AppFailure) as failure:
                await tds_prelogin("127.0.0.1", port)
    assert failure.value.kind is FailureKind.CLOSED
    assert detail in failure.value.detail


async def test_the_client_sends_the_prelogin_and_nothing_else() -> None:
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SPEC_REPLY)
        received.set_result(await reader.read())  # all the client sends, until it hangs up

    async with _serving(record) as port:
        async with asyncio.timeout(5):
            await tds_prelogin("127.0.0.1", port)
            assert await received == prelogin_request()


async def test_the_callers_deadline_ends_a_silent_server_and_the_connection() -> None:
    hung_up = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client hangs up; answers nothing
        hung_up.set()

    async with _serving(silent) as port:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await tds_prelogin("127.0.0.1", port)
        async with asyncio.timeout(5):
            await hung_up.wait()


# -- the lab responder as a program -----------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_responder_program_answers_on_ipv4_and_ipv6() -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.responders.tds", "--port", str(port)],
        *["--version", "15.0.4223", "--encryption", "required"],
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        async with asyncio.timeout(10):
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
            for address in ("127.0.0.1", "::1"):
                facts = await tds_prelogin(address, port)
                assert facts == TdsFacts("15.0.4223", 0, "required")
    finally:
        proc.terminate()
        await proc.wait()
