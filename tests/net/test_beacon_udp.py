"""The UDP exchange against small responders on loopback (IPv4 and IPv6): a reply among
noise (other keys, nonces, ports, kinds, an echo), silence (None, with the nonce sent),
the caller's deadline, and ICMP port unreachable. No socket of a client outlives its call,
and the loop reports no error (tests/net/conftest.py: loop_errors)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from sepcheck.net import beacon
from sepcheck.net.app.facts import AppFailure, FailureKind
from sepcheck.net.beacon import Endpoint, Kind, Message, encode
from sepcheck.net.beacon_client import Translation, _Listener, udp_exchange
from tests.net.beacon_servers import (
    DEADLINE,
    HOSTS,
    KEY,
    OTHER_KEY,
    assert_udp_client_gone,
    host,
    udp_responder,
)

pytestmark = pytest.mark.usefixtures("loop_errors")


@HOSTS
async def test_a_udp_reply(family: str) -> None:
    async with udp_responder(address=host(family)) as (port, responder):
        async with asyncio.timeout(DEADLINE):
            result = await udp_exchange(family, port, KEY, wait=DEADLINE)
    [probe] = responder.received
    assert probe is not None
    assert probe.kind is Kind.PROBE_UDP
    assert probe.port == port
    assert probe.endpoint == result.sent_from
    assert result.nonce == probe.nonce
    assert result.reply is not None
    assert result.reply.nonce == probe.nonce
    assert result.reply.seen_as == result.sent_from
    assert not result.reply.nat


async def test_anything_but_the_reply_is_ignored() -> None:
    def noisy(message: Message, peer: Endpoint) -> list[bytes]:
        right = Message(Kind.REPLY, message.port, message.nonce, Endpoint("198.18.0.7", 1))
        decoy = replace(right, endpoint=Endpoint("198.18.0.66", 66))
        return [
            b"not a message",
            encode(KEY, message),  # an echo of the probe
            encode(OTHER_KEY, decoy),
            encode(KEY, replace(decoy, nonce=bytes(16))),
            encode(KEY, replace(decoy, port=message.port ^ 1)),
            encode(KEY, replace(decoy, kind=Kind.ANSWER)),
            encode(KEY, replace(right, endpoint=None)),
            encode(KEY, right),
            encode(KEY, decoy),  # too late: the first reply counts
        ]

    async with udp_responder(noisy) as (port, _):
        result = await udp_exchange("127.0.0.1", port, KEY, wait=DEADLINE)
    assert result.reply is not None
    assert result.reply.seen_as == Endpoint("198.18.0.7", 1)
    assert result.reply.translation is Translation.ADDRESS


async def test_udp_silence_is_none_with_the_nonce_sent() -> None:
    async with udp_responder(lambda message, peer: []) as (port, responder):
        started = time.monotonic()
        result = await udp_exchange("127.0.0.1", port, KEY, wait=0.2)
        assert 0.2 <= time.monotonic() - started < 1.0
    [probe] = responder.received
    assert probe is not None
    assert result.reply is None
    assert result.nonce == probe.nonce


async def test_the_callers_deadline_ends_the_wait() -> None:
    async with udp_responder(lambda message, peer: []) as (port, _):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await udp_exchange("127.0.0.1", port, KEY, wait=DEADLINE)


@HOSTS
async def test_icmp_port_unreachable_is_refused(family: str) -> None:
    async with udp_responder(address=host(family)) as (port, _):
        pass  # bound and released: nothing listens on it now
    with pytest.raises(AppFailure) as caught:
        async with asyncio.timeout(DEADLINE):
            await udp_exchange(family, port, KEY, wait=DEADLINE)
    assert caught.value.kind is FailureKind.CONNECT
    assert caught.value.detail.startswith("refused")
    await assert_udp_client_gone(port)


async def test_an_icmp_error_after_the_reply_changes_nothing() -> None:
    # Two answers to one datagram (a duplicated probe: a reply, then an ICMP error, or two
    # errors) cannot be made to order on loopback: the listener is driven directly.
    nonce = beacon.new_nonce()
    listener = _Listener(KEY, nonce, 514)
    seen = Endpoint("198.18.0.1", 2)
    listener.datagram_received(
        encode(KEY, Message(Kind.REPLY, 514, nonce, seen)), ("198.18.0.2", 514)
    )
    listener.error_received(ConnectionRefusedError())
    assert await listener.reply == seen
    refused = _Listener(KEY, nonce, 514)
    refused.error_received(ConnectionRefusedError())
    refused.error_received(OSError(113, "No route to host"))
    with pytest.raises(AppFailure, match=r"^refused"):
        await refused.reply
