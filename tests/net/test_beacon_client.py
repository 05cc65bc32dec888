"""The responder clients over TCP against small responders on loopback (IPv4 and IPv6):
a hello's reply, NAT and port translation, another key, replies that answer another probe,
servers that complete the handshake and close or never answer, and queries answered
SEEN / not SEEN / LISTENING. No socket of a client outlives its call, and the loop
reports no error (tests/net/conftest.py: loop_errors)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from sepcheck.net import beacon
from sepcheck.net.app.facts import AppFailure, FailureKind
from sepcheck.net.beacon import SIZE, Endpoint, Kind, Message, decode, encode
from sepcheck.net.beacon_client import NO_NONCE, Answer, Translation, query, tcp_hello
from tests.net.app.servers import Handler, assert_client_gone, closed_port, replying, reset, serve
from tests.net.beacon_servers import (
    DEADLINE,
    HOSTS,
    KEY,
    OTHER_KEY,
    Answerer,
    hello_failure,
    host,
    peer_endpoint,
    replied,
    reporting,
    tcp_responder,
)

pytestmark = pytest.mark.usefixtures("loop_errors")


@HOSTS
async def test_a_responder_replies_to_the_hello(family: str) -> None:
    async with tcp_responder(address=host(family)) as (served, received):
        async with asyncio.timeout(DEADLINE):
            hello = await tcp_hello(served.host, served.port, KEY)
    [probe] = received
    # The probe names the target port and the prober's own source, which is what the
    # responder saw (no NAT on loopback).
    assert probe.kind is Kind.PROBE_TCP
    assert probe.port == served.port
    assert probe.endpoint is not None
    assert probe.endpoint.address == family
    assert hello.sent_from == probe.endpoint == hello.seen_as
    assert hello.nonce == probe.nonce
    assert len(hello.nonce) == 16
    assert not hello.nat
    assert hello.translation is Translation.NONE


async def test_each_hello_has_a_new_nonce() -> None:
    async with tcp_responder() as (served, received):
        for _ in range(2):
            await tcp_hello(served.host, served.port, KEY)
    assert received[0].nonce != received[1].nonce


@pytest.mark.parametrize(
    ("seen", "translation"),
    [
        (lambda peer: Endpoint("198.18.0.99", peer.port), Translation.ADDRESS),
        (lambda peer: Endpoint("198.18.0.99", peer.port ^ 1), Translation.ADDRESS),
        (lambda peer: Endpoint(peer.address, peer.port ^ 1), Translation.PORT),
        # The same source read by a dual-stack socket is no translation at all.
        (lambda peer: Endpoint("::ffff:" + peer.address, peer.port), Translation.NONE),
    ],
)
async def test_a_source_the_responder_saw_differently_is_nat(
    seen: Callable[[Endpoint], Endpoint], translation: Translation
) -> None:
    async with tcp_responder(reporting(seen)) as (served, received):
        hello = await tcp_hello(served.host, served.port, KEY)
    sent_from = received[0].endpoint
    assert sent_from == hello.sent_from
    assert sent_from is not None
    assert beacon.same_endpoint(hello.seen_as, seen(sent_from))
    assert hello.translation is translation
    assert hello.nat is (translation is not Translation.NONE)


async def test_a_reply_with_another_key_is_not_this_runs_responder() -> None:
    async with tcp_responder(reporting(lambda peer: peer, OTHER_KEY)) as (served, _):
        with pytest.raises(AppFailure) as caught:
            await tcp_hello(served.host, served.port, KEY)
    assert caught.value.kind is FailureKind.NOT_PROTOCOL
    assert "not with this run's token" in caught.value.detail


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            lambda m, p: [encode(KEY, Message(Kind.REPLY, m.port, bytes(16), p))],
            "not this probe (wrong nonce)",
        ),
        (
            lambda m, p: [encode(KEY, Message(Kind.REPLY, m.port ^ 1, m.nonce, p))],
            "not this probe (wrong port)",
        ),
        (
            lambda m, p: [encode(KEY, replace(m, kind=Kind.ANSWER))],
            "not this probe (wrong kind)",
        ),
        (lambda m, p: [encode(KEY, m)], "an echo service"),
        (
            lambda m, p: [encode(KEY, Message(Kind.REPLY, m.port, m.nonce, None))],
            "without a source",
        ),
        (lambda m, p: [replied(m, p)[0][:40]], "cut short (40 bytes)"),
    ],
)
async def test_a_reply_that_does_not_answer_the_probe(answer: Answerer, words: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        message = decode(KEY, await reader.readexactly(SIZE))
        assert message is not None
        for data in answer(message, peer_endpoint(writer.get_extra_info("peername"))):
            writer.write(data)
        # Closing after a short reply: the client reads to the end, not past the deadline.

    failure = await hello_failure(handler)
    assert failure.kind is FailureKind.NOT_PROTOCOL
    assert words in failure.detail


async def test_another_protocol_is_not_a_responder() -> None:
    failure = await hello_failure(
        replying(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 100, read_first=False)
    )
    assert failure.kind is FailureKind.NOT_PROTOCOL
    assert failure.detail.startswith("answered, but not a sepcheck responder: first bytes 'HTTP/")


async def test_the_client_reads_one_message_and_no_more() -> None:
    # The responder sends more after its reply and never closes: the client returns at
    # 64 bytes, without waiting for the end of the stream.
    def chatty(message: Message, peer: Endpoint) -> list[bytes]:
        return [*replied(message, peer), b"\x00" * 100_000]

    async with tcp_responder(chatty) as (served, _):
        async with asyncio.timeout(DEADLINE):
            hello = await tcp_hello(served.host, served.port, KEY)
    assert not hello.nat


async def accepts_and_closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A SYN proxy, or a firewall completing handshakes: the connection is accepted, and
    nothing behind it answers."""


async def reads_and_closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A firewall or proxy that takes the probe and ends the connection cleanly (FIN)."""
    await reader.readexactly(SIZE)


async def reads_and_resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readexactly(SIZE)
    reset(writer)


@pytest.mark.parametrize("handler", [accepts_and_closes, reads_and_closes, reads_and_resets])
async def test_a_handshake_without_a_responder_is_closed(handler: Handler) -> None:
    failure = await hello_failure(handler)
    assert failure.kind is FailureKind.CLOSED
    assert "closed without a responder's reply" in failure.detail


async def test_a_silent_server_holds_the_client_until_the_deadline_only() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    async with serve(silent) as served:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await tcp_hello(served.host, served.port, KEY)
        assert time.monotonic() - started < 1.0
        await assert_client_gone(served)


async def test_a_refused_connect() -> None:
    with pytest.raises(AppFailure) as caught:
        await tcp_hello("127.0.0.1", closed_port(), KEY)
    assert caught.value.kind is FailureKind.CONNECT


# -- queries ---------------------------------------------------------------------------

SEEN_FROM = Endpoint("198.18.0.5", 40000)


def answering(flags: int) -> Answerer:
    """An ANSWER with ``flags``, carrying the UDP probe's source when SEEN."""

    def answer(message: Message, peer: Endpoint) -> list[bytes]:
        # Not SEEN, the endpoint is the query's own source: not the UDP probe's.
        source = SEEN_FROM if flags & beacon.SEEN else peer
        return [encode(KEY, Message(Kind.ANSWER, message.port, message.nonce, source, flags))]

    return answer


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (beacon.SEEN | beacon.LISTENING_UDP, Answer(True, SEEN_FROM, True)),
        (beacon.LISTENING_UDP, Answer(False, None, True)),
        (0, Answer(False, None, False)),
        # A TCP flag says nothing about the UDP port asked about.
        (beacon.SEEN | beacon.LISTENING_TCP, Answer(True, SEEN_FROM, False)),
    ],
)
async def test_a_query_about_a_udp_probe(flags: int, expected: Answer) -> None:
    nonce = beacon.new_nonce()
    async with tcp_responder(answering(flags)) as (served, received):
        async with asyncio.timeout(DEADLINE):
            answer = await query(served.host, served.port, KEY, nonce, 514, None)
    [asked] = received
    # UDP: the query's endpoint is the query connection's own source.
    assert asked == Message(Kind.QUERY, 514, nonce, asked.endpoint)
    assert asked.endpoint is not None
    assert answer == expected


@pytest.mark.parametrize(
    ("flags", "listening"),
    [(beacon.LISTENING_TCP, True), (beacon.LISTENING_UDP, False), (0, False)],
)
async def test_a_query_about_a_tcp_port(flags: int, listening: bool) -> None:
    async with tcp_responder(answering(flags)) as (served, received):
        answer = await query(served.host, served.port, KEY, NO_NONCE, None, 8443)
    assert received == [Message(Kind.QUERY, 8443, NO_NONCE, None)]  # TCP: no endpoint
    assert answer == Answer(False, None, listening)


async def test_a_query_about_the_nonce_only() -> None:
    nonce = beacon.new_nonce()
    async with tcp_responder(answering(beacon.SEEN)) as (served, received):
        answer = await query(served.host, served.port, KEY, nonce, None, None)
    assert received == [Message(Kind.QUERY, 0, nonce, None)]
    assert answer == Answer(True, SEEN_FROM, None)


async def test_an_answer_to_another_query_is_refused() -> None:
    def stale(message: Message, peer: Endpoint) -> list[bytes]:
        return [encode(KEY, Message(Kind.ANSWER, message.port, bytes(16), None, beacon.SEEN))]

    async with tcp_responder(stale) as (served, _):
        with pytest.raises(AppFailure) as caught:
            await query(served.host, served.port, KEY, beacon.new_nonce(), 514, None)
    assert caught.value.kind is FailureKind.NOT_PROTOCOL
    assert "wrong nonce" in caught.value.detail


async def test_a_query_asks_about_one_port() -> None:
    with pytest.raises(ValueError, match="one port"):
        await query("127.0.0.1", 1, KEY, NO_NONCE, 514, 8443)
