"""The responder against real clients on 127.0.0.1 and ::1: token probes answered with the
source it saw, everything else closed or ignored without a byte, queries after UDP probes,
the rate limit, the connection cap, and a flood that gets nothing and costs no memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from contextlib import suppress

import pytest

from sepcheck.listen.events import What
from sepcheck.listen.limits import Limits
from sepcheck.listen.ports import PortSpec
from sepcheck.listen.sockets import bind_ports
from sepcheck.model import Protocol
from sepcheck.net import beacon
from sepcheck.net.beacon import Endpoint, Kind
from tests.listen.helpers import (
    KEY,
    LOOPBACK,
    OTHER_KEY,
    probe,
    running,
    tcp_exchange,
    udp_client,
    udp_replies,
    until,
    until_equal,
)


@pytest.mark.parametrize("address", LOOPBACK)
async def test_a_tcp_probe_gets_a_reply_with_the_source_it_saw(address: str) -> None:
    async with running() as run:
        nonce = beacon.new_nonce()
        reader, writer = await asyncio.open_connection(address, run.tcp)
        mine = writer.get_extra_info("sockname")
        writer.write(probe(Kind.PROBE_TCP, run.tcp, nonce))
        reply = beacon.decode(KEY, await reader.readexactly(beacon.SIZE))
        writer.close()
        await writer.wait_closed()
        assert reply is not None
        assert (reply.kind, reply.port, reply.nonce) == (Kind.REPLY, run.tcp, nonce)
        assert reply.endpoint == Endpoint(address, mine[1])
        await until(lambda: run.responder.slots.active == 0)
        [event] = run.log.events
        assert (event.protocol, event.port, event.what, event.answered) == (
            Protocol.TCP,
            run.tcp,
            What.PROBE,
            True,
        )
        assert event.source == Endpoint(address, mine[1])


VALID = probe(Kind.PROBE_TCP, 1)
BAD_INPUT = {
    "wrong token": (probe(Kind.PROBE_TCP, 1, key=OTHER_KEY), False),
    "short": (VALID[:40], True),
    "long": (VALID + b"\x00", False),
    "garbage": (os.urandom(beacon.SIZE), False),
    "magic then garbage": (beacon.MAGIC + os.urandom(beacon.SIZE - len(beacon.MAGIC)), False),
    "a UDP probe over TCP": (probe(Kind.PROBE_UDP, 1), False),
    "a reply sent back": (probe(Kind.REPLY, 1), False),
}


@pytest.mark.parametrize("case", BAD_INPUT)
async def test_anything_else_is_closed_without_a_byte(case: str) -> None:
    data, eof = BAD_INPUT[case]
    async with running() as run:
        assert await tcp_exchange("127.0.0.1", run.tcp, data, eof=eof) == b""
        await until(lambda: run.responder.slots.active == 0)
        assert run.log.events == []
        assert run.log.ignored == {(Protocol.TCP, run.tcp): 1}


async def test_a_silent_connection_is_closed_after_the_timeout() -> None:
    async with running(Limits(timeout=0.2)) as run:
        async with asyncio.timeout(2):
            assert await tcp_exchange("127.0.0.1", run.tcp, b"") == b""
        assert run.responder.slots.active == 0


@pytest.mark.parametrize("address", LOOPBACK)
async def test_a_udp_probe_gets_a_reply_no_larger_than_itself(address: str) -> None:
    async with running() as run:
        client = udp_client(address)
        try:
            request = probe(Kind.PROBE_UDP, run.udp)
            client.sendto(request, (address, run.udp))
            [(data, peer)] = await udp_replies(client, 0.3)
            mine = client.getsockname()
        finally:
            client.close()
        assert len(data) <= len(request)
        assert peer == (address, run.udp)  # from the address the probe was sent to
        reply = beacon.decode(KEY, data)
        assert reply is not None
        assert reply.kind is Kind.REPLY
        assert reply.nonce == beacon.decode(KEY, request).nonce  # type: ignore[union-attr]
        assert reply.endpoint == Endpoint(address, mine[1])
        assert [e.what for e in run.log.events] == [What.PROBE]


@pytest.mark.parametrize("kind", [Kind.PROBE_TCP, Kind.QUERY, Kind.REPLY, Kind.ANSWER])
async def test_other_token_messages_over_udp_are_ignored(kind: Kind) -> None:
    async with running() as run:
        client = udp_client("127.0.0.1")
        try:
            client.sendto(probe(kind, run.udp), ("127.0.0.1", run.udp))
            await until(lambda: sum(run.log.ignored.values()) == 1)
            assert await udp_replies(client, 0.2) == []
        finally:
            client.close()
        assert run.log.events == []


async def test_a_query_after_a_udp_probe_says_seen_and_from_where() -> None:
    async with running() as run:
        client = udp_client("::1")
        nonce = beacon.new_nonce()
        try:
            client.sendto(probe(Kind.PROBE_UDP, run.udp, nonce), ("::1", run.udp))
            assert len(await udp_replies(client, 0.3)) == 1
            source = Endpoint("::1", client.getsockname()[1])
        finally:
            client.close()
        seen = beacon.decode(
            KEY, await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.QUERY, run.udp, nonce))
        )
        unseen = beacon.decode(
            KEY, await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.QUERY, run.tcp))
        )
    assert seen is not None
    assert unseen is not None
    assert (seen.kind, seen.nonce, seen.port) == (Kind.ANSWER, nonce, run.udp)
    assert seen.seen
    assert seen.endpoint == source
    assert seen.listening(udp=True)
    assert not seen.listening(udp=False)
    assert not unseen.seen
    assert unseen.endpoint is None
    assert unseen.listening(udp=False)
    assert not unseen.listening(udp=True)
    query = run.log.events[-2]
    assert query.what is What.QUERY
    assert query.seen is not None
    assert query.seen.source == source


async def test_a_probe_aimed_at_another_port_is_answered_and_recorded_redirected() -> None:
    async with running() as run:
        reply = beacon.decode(
            KEY, await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.PROBE_TCP, 8014))
        )
        assert reply is not None
        assert reply.port == 8014
        [event] = run.log.events
        assert (event.what, event.aimed, event.port) == (What.REDIRECTED, 8014, run.tcp)


async def test_a_source_over_its_rate_limit_gets_no_more_answers() -> None:
    limits = Limits(source_rate=0.001, source_burst=3)
    async with running(limits) as run:
        client = udp_client("127.0.0.1")
        try:
            for _ in range(10):
                client.sendto(probe(Kind.PROBE_UDP, run.udp), ("127.0.0.1", run.udp))
            replies = await udp_replies(client, 0.3)
        finally:
            client.close()
        assert len(replies) == 3
        assert run.log.counts == {What.PROBE: 3, What.RATE_LIMITED: 7}
        # Counted, not stored: a flood over the limit never pushes real probes out.
        assert [e.what for e in run.log.events] == [What.PROBE] * 3


async def test_a_replayed_probe_is_never_answered_twice() -> None:
    async with running() as run:
        client = udp_client("127.0.0.1")
        captured = probe(Kind.PROBE_UDP, run.udp)
        try:
            for _ in range(3):
                client.sendto(captured, ("127.0.0.1", run.udp))
            replies = await udp_replies(client, 0.3)
        finally:
            client.close()
        replayed_tcp = [
            await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.PROBE_TCP, run.tcp, b"n" * 16))
            for _ in range(2)
        ]
    assert len(replies) == 1
    assert [len(r) for r in replayed_tcp] == [64, 0]
    assert run.log.counts == {What.PROBE: 2, What.REPLAYED: 3}
    assert [e.what for e in run.log.events] == [What.PROBE, What.PROBE]


async def test_a_refused_hello_is_still_seen_and_the_answer_says_busy() -> None:
    """Over its rate limit the responder does not answer a hello, but a query (from
    another source) learns that it arrived, and that the responder was refusing: a
    prober does not take the missing reply for a device answering for the host."""
    async with running(Limits(source_rate=0.001, source_burst=1)) as run:
        nonce = beacon.new_nonce()
        first = await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.PROBE_TCP, run.tcp))
        refused = await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.PROBE_TCP, run.tcp, nonce))
        answer = beacon.decode(
            KEY, await tcp_exchange("::1", run.tcp, probe(Kind.QUERY, run.tcp, nonce))
        )
        calm = beacon.decode(KEY, await tcp_exchange("::1", run.tcp, probe(Kind.QUERY, run.tcp)))
    assert (len(first), len(refused)) == (64, 0)
    assert answer is not None
    assert answer.seen
    assert answer.flags & beacon.BUSY
    assert calm is None  # ::1 is over its own limit now: nothing at all


async def test_connections_over_the_cap_are_closed_at_once() -> None:
    async with running(Limits(connections=1)) as run:
        _, idle = await asyncio.open_connection("127.0.0.1", run.tcp)
        await until(lambda: run.responder.slots.active == 1)
        assert await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.PROBE_TCP, run.tcp)) == b""
        assert run.log.busy == {run.tcp: 1}
        idle.close()
        await idle.wait_closed()


FLOOD = 20_000
BATCH = 50


def _garbage(i: int) -> bytes:
    kinds = (
        lambda: os.urandom(beacon.SIZE),
        lambda: beacon.MAGIC + os.urandom(beacon.SIZE - len(beacon.MAGIC)),
        lambda: probe(Kind.PROBE_UDP, 1, key=OTHER_KEY),
        lambda: os.urandom(i % 64),
        lambda: os.urandom(1000),
    )
    return kinds[i % len(kinds)]()


async def test_a_flood_without_the_token_gets_nothing_and_keeps_nothing() -> None:
    async with running() as run:
        client = udp_client("127.0.0.1")
        try:
            target = ("127.0.0.1", run.udp)
            for start in range(0, FLOOD, BATCH):
                for i in range(start, start + BATCH):
                    client.sendto(_garbage(i), target)
                # Paced, so the kernel's receive buffer never drops one: the count is exact.
                await until_equal(lambda: run.log.ignored[(Protocol.UDP, run.udp)], start + BATCH)
            replies = await udp_replies(client, 0.2)
        finally:
            client.close()
        assert replies == []
        assert run.log.ignored == {(Protocol.UDP, run.udp): FLOOD}
        assert run.log.events == []
        assert not run.log.counts
        assert len(run.responder.nonces) == 0
        assert len(run.responder.limiter) == 0


async def test_many_token_probes_keep_the_memory_bounded() -> None:
    limits = Limits(source_rate=1e9, source_burst=1e9, nonces=100, events=50)
    async with running(limits) as run:
        client = udp_client("127.0.0.1")
        sent = 2_000
        try:
            for start in range(0, sent, BATCH):
                for _ in range(BATCH):
                    client.sendto(probe(Kind.PROBE_UDP, run.udp), ("127.0.0.1", run.udp))
                await until_equal(lambda: run.log.counts[What.PROBE], start + BATCH)
                while True:  # drain the replies as they come
                    try:
                        client.recv(100)
                    except BlockingIOError:
                        break
        finally:
            client.close()
        assert len(run.responder.nonces) == 100
        assert len(run.log.events) == 50
        assert run.log.left_out == sent - 50


async def test_closing_ends_open_connections() -> None:
    async with running() as run:
        _, writer = await asyncio.open_connection("127.0.0.1", run.tcp)
        await until(lambda: run.responder.slots.active == 1)
    assert run.responder.slots.active == 0
    writer.close()
    with contextlib.suppress(ConnectionResetError, socket.error):
        await writer.wait_closed()


async def test_a_responder_started_again_at_once_finds_its_ports_free() -> None:
    async with running(Limits(timeout=0.2)) as run:
        answered = await tcp_exchange("127.0.0.1", run.tcp, probe(Kind.PROBE_TCP, run.tcp))
        assert len(answered) == beacon.SIZE
        assert await tcp_exchange("127.0.0.1", run.tcp, b"garbage", eof=True) == b""
        _, silent = await asyncio.open_connection("127.0.0.1", run.tcp)
        await until(lambda: run.responder.slots.active == 0, timeout=2)
        silent.close()
        # The responder ended it with a reset (its timeout): that is what is tested.
        with suppress(ConnectionResetError):
            await silent.wait_closed()
        await until(lambda: run.log.ignored[(Protocol.TCP, run.tcp)] == 1)
    # No TIME_WAIT on the responder's side of any of them: the port binds without
    # SO_REUSEADDR, as the next responder binds it.
    again = bind_ports([PortSpec(Protocol.TCP, run.tcp)], ("127.0.0.1",))
    try:
        assert again.skipped == ()
    finally:
        again.close()
