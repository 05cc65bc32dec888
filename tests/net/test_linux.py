"""The socket backend on loopback: real kernel answers, no namespaces needed."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sepcheck.net import errqueue
from sepcheck.net.classify import WSAECONNRESET, classify_errno, classify_icmp
from sepcheck.net.linux import LinuxBackend
from sepcheck.net.outcome import Outcome, Seen
from sepcheck.net.poller import Poller

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux error queue")


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def udp_responder() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(2048)
            except TimeoutError:
                continue
            server.sendto(b"reply:" + data[:8], peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def closed_port(kind: socket.SocketKind) -> int:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def settle(start: Callable[[Callable[[Outcome], None]], Any], wait: float) -> Outcome:
    """Run one try the way the engine does: until it settles, or expire it at ``wait``."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Outcome] = loop.create_future()

    def settled(outcome: Outcome) -> None:
        if not future.done():
            future.set_result(outcome)

    attempt = start(settled)
    timer = loop.call_later(wait, lambda: settled(attempt.expire()))
    try:
        return await future
    finally:
        timer.cancel()


def tcp(port: int, wait: float = 1.0) -> Outcome:
    async def main() -> Outcome:
        backend = LinuxBackend()
        try:
            return await settle(lambda done: backend.start_tcp("127.0.0.1", port, done), wait)
        finally:
            backend.close()

    return asyncio.run(main())


def udp(port: int, wait: float = 1.0) -> Outcome:
    async def main() -> Outcome:
        backend = LinuxBackend()
        channel = backend.open_udp("127.0.0.1", port)
        try:
            return await settle(lambda done: channel.send(b"hello", done), wait)
        finally:
            channel.close()
            backend.close()

    return asyncio.run(main())


def _loop_never_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate an event loop too busy to run readiness callbacks before the deadline."""
    monkeypatch.setattr(Poller, "watch", lambda self, fd, write, callback: None)


def test_tcp_open_and_refused(tcp_listener: int) -> None:
    opened = tcp(tcp_listener)
    assert opened.state is Seen.OPEN
    assert opened.reason == "syn-ack"
    assert opened.rtt is not None
    refused = tcp(closed_port(socket.SOCK_STREAM))
    assert refused.state is Seen.REFUSED
    assert refused.reason == "conn-refused"
    assert refused.reply_from is None  # connect mode cannot tell who sent a RST


def test_late_loop_still_sees_the_open_port(
    tcp_listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop too busy to run the connect callback before the deadline must not report
    filtered: the kernel finished the handshake, and the final check reads that."""

    _loop_never_notices(monkeypatch)
    outcome = tcp(tcp_listener, 0.05)
    assert outcome.state is Seen.OPEN
    # The loop's lag is not reported as network RTT: the kernel's measure, or nothing.
    if sys.platform.startswith("linux"):
        assert outcome.rtt_exact
        assert outcome.rtt is not None
        assert outcome.rtt < 0.05
    else:
        assert outcome.rtt is None


def test_udp_reply_is_open(udp_responder: int) -> None:
    outcome = udp(udp_responder)
    assert outcome.state is Seen.OPEN
    assert outcome.reason == "udp-response"


def test_udp_late_loop_still_sees_the_reply(
    udp_responder: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _loop_never_notices(monkeypatch)
    assert udp(udp_responder, 0.2).state is Seen.OPEN


@linux_only
def test_udp_closed_port_names_who_answered() -> None:
    outcome = udp(closed_port(socket.SOCK_DGRAM))
    assert outcome.state is Seen.REFUSED
    assert outcome.reason == "port-unreach"
    assert outcome.reply_from == "127.0.0.1"


def test_errqueue_parse() -> None:
    offender = struct.pack("=H", socket.AF_INET) + b"\x00\x00" + socket.inet_aton("198.18.1.1")
    data = struct.pack("=IBBBBII", errno.EHOSTUNREACH, 2, 3, 13, 0, 0, 0) + offender + bytes(8)
    queued = errqueue.parse(data)
    assert queued is not None
    assert queued.from_icmp
    assert (queued.icmp_type, queued.icmp_code, queued.offender) == (3, 13, "198.18.1.1")
    assert queued.ip_version == 4
    six = (
        struct.pack("=H", socket.AF_INET6)
        + bytes(6)
        + socket.inet_pton(socket.AF_INET6, "fd00:1::1")
        + bytes(4)
    )
    data6 = struct.pack("=IBBBBII", errno.EACCES, 3, 1, 1, 0, 0, 0) + six
    queued6 = errqueue.parse(data6)
    assert queued6 is not None
    assert (queued6.ip_version, queued6.offender) == (6, "fd00:1::1")
    assert errqueue.parse(b"short") is None


@pytest.mark.parametrize(
    ("version", "kind", "code", "state", "reason"),
    [
        (4, 3, 3, Seen.REFUSED, "port-unreach"),
        (4, 3, 13, Seen.FILTERED, "admin-prohibited"),
        (4, 3, 0, Seen.FILTERED, "net-unreach"),
        (4, 3, 1, Seen.FILTERED, "host-unreach"),
        (4, 3, 10, Seen.FILTERED, "host-prohibited"),
        (6, 1, 4, Seen.REFUSED, "port-unreach"),
        (6, 1, 1, Seen.FILTERED, "admin-prohibited"),
        (6, 1, 0, Seen.FILTERED, "net-unreach"),
        (6, 1, 3, Seen.FILTERED, "host-unreach"),
    ],
)
def test_icmp_table(version: int, kind: int, code: int, state: Seen, reason: str) -> None:
    assert classify_icmp(version, kind, code) == (state, reason)


def test_errno_table_covers_windows_and_posix() -> None:
    assert classify_errno(errno.ECONNREFUSED) == (Seen.REFUSED, "conn-refused")
    assert classify_errno(10061) == (Seen.REFUSED, "conn-refused")
    assert classify_errno(errno.ECONNREFUSED, udp=True) == (Seen.REFUSED, "port-unreach")
    assert classify_errno(WSAECONNRESET, udp=True) == (Seen.REFUSED, "port-unreach")
    assert classify_errno(errno.EACCES) == (Seen.FILTERED, "local-policy")
    assert classify_errno(errno.EPERM) == (Seen.FILTERED, "local-policy")
    # The same errno after the packet left is a device's ICMP prohibited, not this host.
    assert classify_errno(errno.EACCES, arrived=True) == (Seen.FILTERED, "admin-prohibited")
    assert classify_errno(errno.EPERM, udp=True, arrived=True) == (
        Seen.FILTERED,
        "admin-prohibited",
    )
    assert classify_errno(errno.ECONNREFUSED, arrived=True) == (Seen.REFUSED, "conn-refused")
    assert classify_errno(errno.ENETUNREACH) == (Seen.FILTERED, "net-unreach")
    assert classify_errno(errno.EHOSTUNREACH) == (Seen.FILTERED, "host-unreach")


# -- the batch path (linux_scan.py): what the engine uses for TCP -------------------------


def test_the_scanner_reads_the_sockets_dry_and_answers_each_ticket_once(tcp_listener: int) -> None:
    """The loop never runs while the answers come in (no reader callback, no wake-up):
    ``answers()`` still finds them, each under its own ticket, once. A ticket whose
    deadline is judged first gets what its socket says then (loopback: connected), and
    is gone from the answers."""

    async def main() -> tuple[list[tuple[int, Outcome]], list[tuple[int, Outcome]], Outcome]:
        backend = LinuxBackend()
        scanner = backend.syn_scanner
        try:
            scanner.send_syn(7, "127.0.0.1", tcp_listener, None)
            scanner.send_syn(9, "127.0.0.1", closed_port(socket.SOCK_STREAM), None)
            scanner.send_syn(11, "127.0.0.1", tcp_listener, None)
            time.sleep(0.2)  # noqa: ASYNC251 (blocking on purpose: the loop must not run)
            expired = scanner.expire(11)
            return scanner.answers(), scanner.answers(), expired
        finally:
            backend.close()

    first, again, expired = asyncio.run(main())
    by_ticket = dict(first)
    assert sorted(by_ticket) == [7, 9]
    assert (by_ticket[7].state, by_ticket[7].reason) == (Seen.OPEN, "syn-ack")
    assert by_ticket[7].rtt_exact  # the kernel's RTT, not the 0.2 s the loop slept
    assert by_ticket[7].rtt is not None
    assert by_ticket[7].rtt < 0.2
    assert (by_ticket[9].state, by_ticket[9].reason) == (Seen.REFUSED, "conn-refused")
    assert (expired.state, expired.reason) == (Seen.OPEN, "syn-ack")
    assert again == []


def test_the_scanner_wakes_the_engine_while_it_listens() -> None:
    """The loop watches the scanner's epoll set while ``on_answer`` is set, and only
    then: an answer (here a closed port's RST) wakes the engine."""

    async def main() -> tuple[int, list[tuple[int, Outcome]], bool]:
        backend = LinuxBackend()
        scanner = backend.syn_scanner
        woken = asyncio.Event()
        scanner.on_answer = woken.set
        try:
            scanner.send_syn(1, "127.0.0.1", closed_port(socket.SOCK_STREAM), None)
            await asyncio.wait_for(woken.wait(), 2)
            answers = scanner.answers()
            scanner.on_answer = None  # the loop stops watching
            watched = scanner.epoll.fileno() in _readers(asyncio.get_running_loop())
            return len(answers), answers, watched
        finally:
            backend.close()

    count, answers, watched = asyncio.run(main())
    assert count == 1
    assert answers[0][0] == 1
    assert answers[0][1].state is Seen.REFUSED
    assert not watched


def _readers(loop: asyncio.AbstractEventLoop) -> set[int]:
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return set()
    return {key.fd for key in selector.get_map().values()}


def test_the_scanner_answers_what_this_host_said_at_once() -> None:
    """A try that cannot start (here a malformed address) is answered under its ticket,
    never raised; expiring that ticket returns the answer once."""

    async def main() -> tuple[Outcome, list[tuple[int, Outcome]]]:
        backend = LinuxBackend()
        scanner = backend.syn_scanner
        try:
            scanner.send_syn(4, "not-an-address", 80, None)
            return scanner.expire(4), scanner.answers()
        finally:
            backend.close()

    expired, later = asyncio.run(main())
    assert (expired.state, expired.reason) == (Seen.FILTERED, "local-error")
    assert later == []


def test_the_scanner_raises_a_local_shortage_and_aborts_cleanly(
    tcp_listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors is the engine's to wait out (LocalResourceError), not an
    answer; an aborted ticket's socket is closed and never answered."""
    from sepcheck.net import linux_scan
    from sepcheck.net.outcome import LocalResourceError

    async def main() -> tuple[bool, int, list[tuple[int, Outcome]]]:
        backend = LinuxBackend()
        scanner = backend.syn_scanner
        try:
            scanner.send_syn(1, "127.0.0.1", tcp_listener, None)
            sock = scanner.live[1][1]
            scanner.abort(1)
            time.sleep(0.1)  # noqa: ASYNC251
            after_abort = scanner.answers()

            def no_descriptors(*_: object) -> socket.socket:
                raise OSError(errno.EMFILE, "Too many open files")

            monkeypatch.setattr(linux_scan, "_SOCKET", no_descriptors)
            try:
                scanner.send_syn(2, "127.0.0.1", tcp_listener, None)
            except LocalResourceError:
                raised = True
            else:
                raised = False
            return raised, sock.fileno(), after_abort
        finally:
            backend.close()

    raised, fileno, after_abort = asyncio.run(main())
    assert raised
    assert fileno == -1  # closed
    assert after_abort == []


def test_the_engine_sends_tcp_probes_through_the_scanner(
    tcp_listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's TCP probes over the Linux backend take the batch path: one try
    object per probe (start_tcp) is what it replaced."""
    from sepcheck.engine import Engine, EngineSettings

    def no_tries(*_: object, **__: object) -> None:
        raise AssertionError("start_tcp called: the batch path was not used")

    monkeypatch.setattr(LinuxBackend, "start_tcp", no_tries)
    closed = closed_port(socket.SOCK_STREAM)

    class Probe:
        def __init__(self, port: int) -> None:
            self.host = self.address = "127.0.0.1"
            self.port = port
            self.ttl = None
            self.ipv4_only = False
            from sepcheck.model import Protocol

            self.protocol = Protocol.TCP

    ended: dict[int, Outcome] = {}

    class Sink:
        def settled(self, probe: Probe, address: str, outcome: Outcome, tries: int) -> None:
            ended[probe.port] = outcome

        def unresolved(self, probe: Probe, why: str) -> None:
            raise AssertionError(why)

    async def main() -> None:
        backend = LinuxBackend()
        try:
            engine = Engine(backend, lambda _port: b"", EngineSettings(rate=0))
            await engine.run([Probe(tcp_listener), Probe(closed)], Sink())
        finally:
            backend.close()

    asyncio.run(main())
    assert ended[tcp_listener].state is Seen.OPEN
    assert ended[closed].state is Seen.REFUSED


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops further SYNs, so a connect()
    to it stays under way (silent) for a second or more."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


def test_the_scanner_calls_a_connect_still_under_way_silent_and_closes_everything(
    full_listener: int,
) -> None:
    """A SYN nobody answers: at its deadline the ticket is silent and its socket closed;
    close() closes the sockets still in flight, and the backend can be used again."""

    async def main() -> tuple[list[tuple[int, Outcome]], Outcome, bool, bool, Outcome]:
        backend = LinuxBackend()
        scanner = backend.syn_scanner
        scanner.send_syn(1, "127.0.0.1", full_listener, None)
        scanner.send_syn(2, "127.0.0.1", full_listener, None)
        time.sleep(0.2)  # noqa: ASYNC251 (the SYNs wait; nothing comes back)
        answers = scanner.answers()
        first, second = scanner.live[1][1], scanner.live[2][1]
        expired = scanner.expire(1)
        backend.close()
        closed = first.fileno() == -1 and second.fileno() == -1
        empty = not scanner.live and not scanner.by_fd
        # Used again after close(): a new epoll set, the same answers.
        scanner.send_syn(3, "127.0.0.1", closed_port(socket.SOCK_STREAM), None)
        time.sleep(0.1)  # noqa: ASYNC251
        again = dict(scanner.answers())[3]
        backend.close()
        return answers, expired, closed, empty, again

    answers, expired, closed, empty, again = asyncio.run(main())
    assert answers == []
    assert expired.silent
    assert closed
    assert empty
    assert again.state is Seen.REFUSED


def test_the_scanner_wakes_each_run_on_its_own_loop(tcp_listener: int) -> None:
    """One backend, event loops one after the other: each loop watches the scanner's
    sockets while its run has ``on_answer`` set, even when the run before never let go
    (only the engine is sure to set it back to None)."""
    backend = LinuxBackend()

    async def one_run(let_go: bool) -> bool:
        scanner = backend.syn_scanner
        woken = asyncio.Event()
        scanner.on_answer = woken.set
        try:
            scanner.send_syn(1, "127.0.0.1", tcp_listener, None)
            await asyncio.wait_for(woken.wait(), 2)
            return dict(scanner.answers())[1].state is Seen.OPEN
        finally:
            if let_go:
                scanner.on_answer = None

    try:
        assert asyncio.run(one_run(let_go=True))
        assert asyncio.run(one_run(let_go=False))
        assert asyncio.run(one_run(let_go=True))
    finally:
        backend.close()


def _loopback6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _loopback6(), reason="no IPv6 loopback here")
def test_the_scanner_probes_ipv6_and_sends_with_a_ttl() -> None:
    """IPv6 (the error queue's IPv6 option) and a hop limit (trace) on the C socket type."""
    server = socket.socket(socket.AF_INET6)
    server.bind(("::1", 0))
    server.listen(8)
    port = server.getsockname()[1]

    async def main() -> dict[int, Outcome]:
        backend = LinuxBackend()
        scanner = backend.syn_scanner
        try:
            scanner.send_syn(1, "::1", port, None)
            scanner.send_syn(2, "::1", port, 7)
            time.sleep(0.2)  # noqa: ASYNC251
            return dict(scanner.answers())
        finally:
            backend.close()

    try:
        answers = asyncio.run(main())
    finally:
        server.close()
    assert answers[1].state is Seen.OPEN
    assert answers[2].state is Seen.OPEN
