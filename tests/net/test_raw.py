"""The raw backend on loopback (root only): its contract with the engine, where a wrong
implementation would report a probe twice or lose an answer."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import time

import pytest

from sepcheck.net.outcome import Outcome, Seen
from sepcheck.net.raw import raw_problem
from sepcheck.net.raw.backend import RawBackend
from sepcheck.net.raw.tries import RawUdpChannel

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or raw_problem() is not None, reason="raw sockets need root and scapy"
)


def test_udp_answer_found_at_the_deadline_is_returned_once() -> None:
    """The loop never ran the readiness callback (it was busy): expire() must return the
    answer that waits in the socket, and not also pass it to the engine's callback."""

    async def main() -> tuple[Outcome, list[Outcome]]:
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("127.0.0.1", 0))
        backend = RawBackend()
        heard: list[Outcome] = []
        try:
            channel = backend.open_udp("127.0.0.1", server.getsockname()[1])
            attempt = channel.send(b"ping", heard.append)
            _, peer = server.recvfrom(100)  # blocking: the probe has left
            server.sendto(b"pong", peer)
            # Block (a busy loop) until the reply waits on the probe's socket; the loop
            # gets no chance to run the readiness callback.
            assert isinstance(channel, RawUdpChannel)
            assert select.select([channel.sock], [], [], 2)[0]
            outcome = attempt.expire()
            channel.close()
            return outcome, heard
        finally:
            backend.close()
            server.close()

    outcome, heard = asyncio.run(main())
    assert heard == []
    assert (outcome.state, outcome.reason, outcome.ttl) == (Seen.OPEN, "udp-response", 64)


def _listening_and_closed() -> tuple[socket.socket, socket.socket]:
    """A listening socket on loopback, and a bound one that does not listen (the kernel
    answers its SYNs with RST)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    return listener, closed


def test_tcp_reset_and_syn_ack_with_a_reference_ttl() -> None:
    async def main() -> list[Outcome]:
        listener, closed = _listening_and_closed()
        backend = RawBackend()
        loop = asyncio.get_running_loop()
        try:
            results = []
            for port in (listener.getsockname()[1], closed.getsockname()[1]):
                answer: asyncio.Future[Outcome] = loop.create_future()
                backend.start_tcp("127.0.0.1", port, answer.set_result)
                results.append(await asyncio.wait_for(answer, 2))
            return results
        finally:
            backend.close()
            listener.close()
            closed.close()

    opened, refused = asyncio.run(main())
    assert (opened.state, opened.reason, opened.reply_from, opened.ttl) == (
        Seen.OPEN,
        "syn-ack",
        "127.0.0.1",
        64,
    )
    assert opened.rtt_exact
    assert (refused.state, refused.reason) == (Seen.REFUSED, "reset")
    assert refused.note == "reset (ttl 64, as the host's own replies)"


def test_close_releases_every_socket() -> None:
    async def main() -> int:
        backend = RawBackend()
        before = len(os.listdir("/proc/self/fd"))
        backend.start_tcp("127.0.0.1", 9, lambda _: None)
        backend.start_tcp("::1", 9, lambda _: None)
        channel = backend.open_udp("127.0.0.1", 9)
        channel.send(b"x", lambda _: None)
        await asyncio.sleep(0.05)
        channel.close()
        backend.close()
        return len(os.listdir("/proc/self/fd")) - before

    assert asyncio.run(main()) == 0


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_the_kernel_keeps_other_tcp_traffic_off_the_raw_socket(address: str) -> None:
    """A busy server's own TCP traffic never reaches the event loop: only segments to the
    probes' source port are queued on the raw socket."""
    from sepcheck.net.raw import packets

    async def main() -> tuple[list[int], int]:
        backend = RawBackend()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            backend.start_tcp(address, 9, lambda _: None)  # opens the raw sockets
            side = backend.sides[family]
            # Unrelated traffic on loopback, with no await: the loop reads nothing of it.
            server = socket.socket(family)
            server.bind((address, 0))
            server.listen(1)
            client = socket.create_connection(server.getsockname()[:2])
            peer, _ = server.accept()
            client.sendall(b"x" * 1000)
            peer.recv(1000)
            for sock in (client, peer, server):
                sock.close()
            ports = []
            for data, extra, sender in side.batch(side.tcp, 10_000):
                reply = (
                    packets.parse_tcp4(data)
                    if family == socket.AF_INET
                    else packets.parse_tcp6(data, sender, extra.ttl or 0)
                )
                assert reply is not None
                ports.append(reply.dport)
            return ports, side.sport
        finally:
            backend.close()

    ports, sport = asyncio.run(main())
    assert ports  # the probe's own answer (a RST from port 9) is there
    assert set(ports) == {sport}


def test_the_scanner_reads_the_sockets_dry_and_answers_each_ticket_once() -> None:
    """The engine's batch path: the loop never runs while the answers come in (no reader
    callback, no wake-up); ``answers()`` still finds them, each under its own ticket, once.
    A ticket expired before its answer was read is forgotten, answer and all."""

    async def main() -> tuple[list[tuple[int, Outcome]], list[tuple[int, Outcome]], Outcome]:
        listener, closed = _listening_and_closed()
        backend = RawBackend()
        scanner = backend.syn_scanner
        woken: list[int] = []
        scanner.on_answer = lambda: woken.append(1)
        try:
            scanner.send_syn(7, "127.0.0.1", listener.getsockname()[1], None)
            scanner.send_syn(9, "127.0.0.1", closed.getsockname()[1], None)
            scanner.send_syn(11, "127.0.0.1", listener.getsockname()[1], None)
            expired = scanner.expire(11)  # its deadline passed before anything was read
            time.sleep(0.2)  # noqa: ASYNC251 (blocking on purpose: the loop must not run)
            first = scanner.answers()
            assert woken  # the scanner wakes the engine when it finds answers
            return first, scanner.answers(), expired
        finally:
            backend.close()
            listener.close()
            closed.close()

    first, again, expired = asyncio.run(main())
    assert expired.silent
    by_ticket = dict(first)
    assert sorted(by_ticket) == [7, 9]  # 11 was forgotten with its deadline
    assert (by_ticket[7].state, by_ticket[7].reason, by_ticket[7].ttl) == (Seen.OPEN, "syn-ack", 64)
    assert by_ticket[7].rtt_exact
    assert (by_ticket[9].state, by_ticket[9].reason) == (Seen.REFUSED, "reset")
    assert by_ticket[9].note == "reset (ttl 64, as the host's own replies)"
    assert again == []


def test_source_addresses_are_remembered_for_a_bounded_number_of_destinations() -> None:
    from sepcheck.net.raw import packets
    from sepcheck.net.raw.side import _SOURCES_KEPT, Side

    async def main() -> tuple[int, bytes, bool]:
        side = Side(socket.AF_INET, lambda _: None, lambda _: None)
        try:
            for i in range(_SOURCES_KEPT + 5):
                address = f"127.0.{i // 250}.{i % 250 + 1}"
                side.source_for(address, packets.pack_address(address))
            first = packets.pack_address("127.0.0.1")
            return len(side.sources), side.source_for("127.0.0.1", first), first in side.sources
        finally:
            side.close()

    kept, source, again = asyncio.run(main())
    assert kept == _SOURCES_KEPT
    assert source == packets.pack_address("127.0.0.1")  # looked up again after eviction
    assert again


def test_an_answer_read_before_its_ticket_expires_is_the_tickets() -> None:
    """Within one tick, judging other deadlines can read the raw sockets (a UDP try's
    expire() drains the ICMP socket): an answer read that way, then its own ticket's
    deadline in the same tick, returns the answer, once; answers() no longer has it."""

    async def main() -> tuple[Outcome, list[tuple[int, Outcome]]]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        backend = RawBackend()
        scanner = backend.syn_scanner
        try:
            scanner.send_syn(3, "127.0.0.1", listener.getsockname()[1], None)
            time.sleep(0.2)  # noqa: ASYNC251 (blocking on purpose: the loop must not run)
            for side in backend.sides.values():
                backend.matcher.drain(side)  # read by someone else's deadline
            return scanner.expire(3), scanner.answers()
        finally:
            backend.close()
            listener.close()

    expired, later = asyncio.run(main())
    assert (expired.state, expired.reason) == (Seen.OPEN, "syn-ack")
    assert later == []


def test_a_held_answer_leaves_no_trace_once_its_try_is_over() -> None:
    """A host whose resets can never be judged (no open port, echo dropped): each try
    holds its reset until its deadline. Expired or settled, it must not stay in the
    Forgery's waiting lists, or a long run keeps every such try."""
    from types import SimpleNamespace

    from sepcheck.net.raw import packets
    from sepcheck.net.raw.forged import Forgery
    from sepcheck.net.raw.tries import Pending

    icmp = SimpleNamespace(sendto=lambda data, target: len(data))
    forgery = Forgery(lambda packed: SimpleNamespace(version=4, icmp=icmp))  # type: ignore[arg-type, return-value]
    matcher = SimpleNamespace(forgery=forgery)
    packed = packets.pack_address("198.18.2.2")
    reset = Outcome(Seen.REFUSED, "reset", "198.18.2.2", 0.001, ttl=63)
    tries = [Pending(matcher, "198.18.2.2", packed) for _ in range(3)]  # type: ignore[arg-type]
    heard: list[Outcome] = []
    for attempt in tries:
        attempt.done = heard.append
        forgery.closed(attempt, reset)
    assert len(forgery.waiting[packed]) == 3
    first = tries[0]._take_held()  # its deadline: judged without a reference
    assert "cannot tell" in (first.note or "")
    tries[1].settle(reset)
    assert forgery.waiting == {packed: [tries[2]]}
    tries[2]._take_held()
    assert forgery.waiting == {}
