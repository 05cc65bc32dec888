"""The portable backend on loopback (127.0.0.1 and ::1, ports bound here): real kernel
answers through selectors and plain socket errors, on asyncio's selector loop and on uvloop
(the loop sepcheck runs on Linux and macOS)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sepcheck.engine import Engine, EngineSettings
from sepcheck.model import Protocol
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen
from sepcheck.net.portable import SELECT_LIMIT, PortableBackend
from sepcheck.net.protocols import Try
from sepcheck.timing import TimingSettings

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
"""Runs a coroutine to its end on a fresh event loop (asyncio's selector loop or uvloop)."""
LOOPBACKS = ["127.0.0.1", "::1"]


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(params=LOOPBACKS)
def host(request: pytest.FixtureRequest) -> str:
    address: str = request.param
    if ":" in address and not _has_ipv6():
        pytest.skip("no IPv6 loopback here")
    return address


@pytest.fixture(params=["asyncio", "uvloop"])
def runner(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on a fresh loop of this kind."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.SelectorEventLoop

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as loop_runner:
            return loop_runner.run(coro)

    return run


def family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


@pytest.fixture
def tcp_listener(host: str) -> Iterator[int]:
    server = socket.socket(family(host))
    server.bind((host, 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


class UdpResponder:
    """A UDP socket bound here that answers every datagram, or stays silent (``answer``
    False: a bound port that never answers, so no ICMP error either)."""

    def __init__(self, host: str, answer: bool = True) -> None:
        self.sock = socket.socket(family(host), socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.answer = answer
        self.delay = 0.0
        self.received = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.received += 1
            if self.answer:
                time.sleep(self.delay)
                self.sock.sendto(b"reply:" + data[:8], peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def udp_responder(host: str) -> Iterator[UdpResponder]:
    with contextlib.closing(UdpResponder(host)) as responder:
        yield responder


@pytest.fixture
def udp_silent(host: str) -> Iterator[UdpResponder]:
    with contextlib.closing(UdpResponder(host, answer=False)) as responder:
        yield responder


def closed_port(host: str, kind: socket.SocketKind) -> int:
    with socket.socket(family(host), kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


class Recorder:
    """A ``done`` that records its calls, and fails if called before the try exists."""

    def __init__(self) -> None:
        self.calls: list[Outcome] = []
        self.started = False
        self.early = False
        self.called = asyncio.Event()

    def __call__(self, outcome: Outcome) -> None:
        if not self.started:
            self.early = True  # called from inside start_tcp/send: the contract is broken
        self.calls.append(outcome)
        self.called.set()

    async def wait(self, seconds: float) -> Outcome | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.called.wait(), seconds)
        return self.calls[0] if self.calls else None


async def settle(start: Callable[[Recorder], Try], wait: float) -> tuple[Outcome, str]:
    """One try the way the engine runs it: its answer, or expire() at ``wait``; also says
    which of the two gave the outcome."""
    done = Recorder()
    attempt = start(done)
    done.started = True
    answer = await done.wait(wait)
    if answer is not None:
        assert not done.early
        return answer, "done"
    return attempt.expire(), "expire"


def one_try(run: Runner, host: str, port: int, udp: bool = False, wait: float = 1.0) -> Any:
    """A TCP try, or a UDP one over its own channel: (outcome, "done" or "expire")."""

    async def main() -> tuple[Outcome, str]:
        backend = PortableBackend()
        channel = backend.open_udp(host, port) if udp else None
        try:
            if channel is not None:
                return await settle(lambda done: channel.send(b"hello", done), wait)
            return await settle(lambda done: backend.start_tcp(host, port, done), wait)
        finally:
            if channel is not None:
                channel.close()
            backend.close()
            assert backend.held == 0  # every socket closed

    return run(main())


def test_tcp_open(runner: Runner, host: str, tcp_listener: int) -> None:
    outcome, how = one_try(runner, host, tcp_listener)
    assert how == "done"
    assert (outcome.state, outcome.reason, outcome.reply_from) == (Seen.OPEN, "syn-ack", host)
    assert outcome.rtt is not None
    assert not outcome.rtt_exact  # measured by the loop: no TCP_INFO here


def test_an_open_connection_is_closed_with_a_reset(runner: Runner, host: str) -> None:
    """After the handshake the probe closes with RST (SO_LINGER 0): no TIME_WAIT left on
    this host over thousands of probes. The listener sees a reset, not an orderly end."""
    server = socket.socket(family(host))
    server.bind((host, 0))
    server.listen(8)
    try:
        outcome, _ = one_try(runner, host, server.getsockname()[1])
        assert outcome.state is Seen.OPEN
        accepted, _ = server.accept()
        with accepted, pytest.raises(ConnectionResetError):
            accepted.recv(16)
    finally:
        server.close()


def test_tcp_refused(runner: Runner, host: str) -> None:
    outcome, how = one_try(runner, host, closed_port(host, socket.SOCK_STREAM))
    assert how == "done"
    assert (outcome.state, outcome.reason) == (Seen.REFUSED, "conn-refused")
    assert outcome.reply_from is None  # connect() cannot tell who sent the RST


def test_udp_reply(runner: Runner, host: str, udp_responder: UdpResponder) -> None:
    outcome, how = one_try(runner, host, udp_responder.port, udp=True)
    assert how == "done"
    assert (outcome.state, outcome.reason, outcome.reply_from) == (
        Seen.OPEN,
        "udp-response",
        host,
    )
    assert outcome.rtt is not None


def test_udp_port_unreachable(runner: Runner, host: str) -> None:
    outcome, how = one_try(runner, host, closed_port(host, socket.SOCK_DGRAM), udp=True)
    assert how == "done"
    assert (outcome.state, outcome.reason) == (Seen.REFUSED, "port-unreach")
    assert outcome.reply_from is None  # no error queue: errno only, the sender is unknown


def test_udp_silence(runner: Runner, host: str, udp_silent: UdpResponder) -> None:
    outcome, how = one_try(runner, host, udp_silent.port, udp=True, wait=0.2)
    assert (outcome, how) == (SILENT, "expire")
    assert udp_silent.received == 1  # the datagram did leave


def _busy_then_expire(start: Callable[[Recorder], Try], busy: float) -> Callable[[], Any]:
    """A loop too busy to run any callback between the send and the deadline: the try is
    started, the loop is held for ``busy`` seconds, then expire() is called at once."""

    async def main() -> tuple[Outcome, list[Outcome]]:
        done = Recorder()
        attempt = start(done)
        done.started = True
        time.sleep(busy)  # noqa: ASYNC251 (on purpose: no callback may run meanwhile)
        outcome = attempt.expire()
        await asyncio.sleep(0.1)  # a callback that ran now would be a second answer
        return outcome, done.calls

    return main


@pytest.mark.parametrize("kind", ["tcp-open", "tcp-refused", "udp-reply", "udp-unreach"])
def test_expire_after_a_busy_loop_still_finds_the_answer(
    runner: Runner, host: str, kind: str, tcp_listener: int, udp_responder: UdpResponder
) -> None:
    """A loop that ran late must not turn an answer into silence: expire() reads the
    socket's state (SO_ERROR, getpeername, a non-blocking recv) before it says SILENT."""

    async def main() -> tuple[Outcome, list[Outcome], int]:
        backend = PortableBackend()
        if kind.startswith("tcp"):
            port = tcp_listener if kind == "tcp-open" else closed_port(host, socket.SOCK_STREAM)
            result = await _busy_then_expire(
                lambda done: backend.start_tcp(host, port, done), 0.2
            )()
        else:
            port = (
                udp_responder.port if kind == "udp-reply" else closed_port(host, socket.SOCK_DGRAM)
            )
            channel = backend.open_udp(host, port)
            result = await _busy_then_expire(lambda done: channel.send(b"hi", done), 0.2)()
            channel.close()
        backend.close()
        return result[0], result[1], backend.held

    outcome, calls, held = runner(main())
    expected = {
        "tcp-open": (Seen.OPEN, "syn-ack"),
        "tcp-refused": (Seen.REFUSED, "conn-refused"),
        "udp-reply": (Seen.OPEN, "udp-response"),
        "udp-unreach": (Seen.REFUSED, "port-unreach"),
    }[kind]
    assert (outcome.state, outcome.reason) == expected
    assert outcome.rtt is None  # found late: the loop's lag is not the network's RTT
    assert calls == []  # the answer is expire()'s return value, never also a done call
    assert held == 0


def test_done_is_never_called_after_expire_or_abort(
    runner: Runner, host: str, tcp_listener: int, udp_responder: UdpResponder
) -> None:
    async def main() -> list[Outcome]:
        backend = PortableBackend()
        dones = [Recorder() for _ in range(4)]
        tcp_expired = backend.start_tcp(host, tcp_listener, dones[0])
        tcp_aborted = backend.start_tcp(host, tcp_listener, dones[1])
        udp_responder.delay = 0.05  # the reply comes after expire()/abort()
        channel = backend.open_udp(host, udp_responder.port)
        udp_expired = channel.send(b"one", dones[2])
        udp_expired.expire()  # nothing came yet: silent, and this try is over
        tcp_expired.expire()
        tcp_aborted.abort()
        await asyncio.sleep(0.2)  # the reply to the first UDP try arrives meanwhile
        udp_aborted = channel.send(b"two", dones[3])
        udp_aborted.abort()
        await asyncio.sleep(0.2)
        channel.close()
        backend.close()
        assert backend.held == 0
        return [call for done in dones for call in done.calls]

    assert runner(main()) == []


def test_a_late_answer_counts_for_the_next_try(
    runner: Runner, host: str, udp_responder: UdpResponder
) -> None:
    """A UDP channel lives for the whole probe: the reply to a try that expired silent
    answers the retry (the engine's "late answer to an earlier try still counts")."""

    async def main() -> tuple[Outcome, Outcome | None]:
        backend = PortableBackend()
        udp_responder.delay = 0.1
        channel = backend.open_udp(host, udp_responder.port)
        first = channel.send(b"one", Recorder()).expire()
        await asyncio.sleep(0.3)  # the first reply waits in the socket
        udp_responder.answer = False  # the retry itself gets no reply
        done = Recorder()
        channel.send(b"two", done)
        done.started = True
        second = await done.wait(1.0)
        channel.close()
        return first, second

    first, second = runner(main())
    assert first is SILENT
    assert second is not None
    assert (second.state, second.reason) == (Seen.OPEN, "udp-response")


def test_done_is_never_called_before_start_returns(runner: Runner, host: str) -> None:
    """Answers known at once (this host refuses: no route, a local firewall, a socket that
    cannot be set up) come on the loop's next turn, and expire() or abort() before that
    turn takes them back."""

    async def main() -> tuple[list[Outcome], Outcome, list[Outcome], list[Outcome]]:
        backend = PortableBackend()
        # TTL 256 is refused by setsockopt: a try whose socket cannot be set up.
        delivered = Recorder()
        backend.start_tcp(host, 9, delivered, ttl=256)
        delivered.started = True
        assert delivered.calls == []
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        expired_done = Recorder()
        expired = backend.start_tcp(host, 9, expired_done, ttl=256)
        expired_done.started = True
        taken_back = expired.expire()
        aborted_done = Recorder()
        backend.start_tcp(host, 9, aborted_done, ttl=256).abort()
        aborted_done.started = True
        await asyncio.sleep(0.05)
        backend.close()
        assert backend.held == 0
        assert not delivered.early
        assert not expired_done.early
        assert not aborted_done.early
        return delivered.calls, taken_back, expired_done.calls, aborted_done.calls

    delivered, taken_back, after_expire, after_abort = runner(main())
    assert [(o.state, o.reason) for o in delivered] == [(Seen.FILTERED, "local-error")]
    assert (taken_back.state, taken_back.reason) == (Seen.FILTERED, "local-error")
    assert after_expire == []
    assert after_abort == []


def test_a_failed_start_is_an_outcome(runner: Runner) -> None:
    """The local stack says no at once: TCP to the broadcast address (ENETUNREACH from
    connect_ex), UDP to it without SO_BROADCAST (EACCES from connect): outcomes of every
    try, never exceptions."""

    async def main() -> tuple[tuple[Outcome, str], tuple[Outcome, str], tuple[Outcome, str]]:
        backend = PortableBackend()
        tcp_try = await settle(lambda done: backend.start_tcp("255.255.255.255", 9, done), 1.0)
        channel = backend.open_udp("255.255.255.255", 9)
        first = await settle(lambda done: channel.send(b"x", done), 1.0)
        second = await settle(lambda done: channel.send(b"x", done), 1.0)
        channel.close()
        backend.close()
        assert backend.held == 0
        return tcp_try, first, second

    tcp_try, first, second = runner(main())
    assert tcp_try == (Outcome(Seen.FILTERED, "net-unreach"), "done")
    # EACCES where a route covers the broadcast address; ENETUNREACH where none does (a
    # namespace with only loopback): this host's answer either way, for every try.
    assert first == second
    assert first[0] in (
        Outcome(Seen.FILTERED, "local-policy"),
        Outcome(Seen.FILTERED, "net-unreach"),
    )
    assert first[1] == "done"


def test_out_of_descriptors_is_a_local_resource_error(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMFILE is this host's shortage, not an answer: LocalResourceError (the engine
    waits and retries), and nothing is held."""

    def no_more_files(*args: object, **kwargs: object) -> socket.socket:
        raise OSError(errno.EMFILE, "Too many open files")

    async def main() -> list[int | None]:
        backend = PortableBackend()
        raised = []
        with monkeypatch.context() as patched:  # only around the calls: the loop needs sockets
            patched.setattr(socket, "socket", no_more_files)
            for start in (
                lambda: backend.start_tcp("127.0.0.1", 9, Recorder()),
                lambda: backend.open_udp("127.0.0.1", 9),
            ):
                with pytest.raises(LocalResourceError) as caught:
                    start()
                raised.append(caught.value.errno)
        assert backend.held == 0
        return raised

    assert runner(main()) == [errno.EMFILE, errno.EMFILE]


def test_the_socket_ceiling_is_a_local_resource_error(
    runner: Runner, host: str, tcp_listener: int
) -> None:
    """Windows' select() watches at most 512 sockets per set: the backend holds at most
    its limit and raises LocalResourceError beyond it, until a socket is released."""
    assert SELECT_LIMIT is None  # no ceiling of the backend's own here (not Windows)

    async def main() -> None:
        backend = PortableBackend(limit=2)
        channel = backend.open_udp(host, 9)
        first = backend.start_tcp(host, tcp_listener, Recorder())
        with pytest.raises(LocalResourceError):
            backend.start_tcp(host, tcp_listener, Recorder())
        with pytest.raises(LocalResourceError):
            backend.open_udp(host, 9)
        first.abort()
        backend.start_tcp(host, tcp_listener, Recorder()).abort()
        channel.close()
        channel.close()  # closing twice releases once
        assert backend.held == 0

    runner(main())


@dataclass(frozen=True)
class Target:
    address: str
    port: int
    protocol: Protocol
    ttl: int | None = None
    ipv4_only: bool = False

    @property
    def host(self) -> str:
        return self.address


def test_the_engine_runs_on_it(
    runner: Runner,
    host: str,
    tcp_listener: int,
    udp_responder: UdpResponder,
    udp_silent: UdpResponder,
) -> None:
    """The real engine over this backend: every state, and nothing left open."""
    targets = [
        Target(host, tcp_listener, Protocol.TCP),
        Target(host, closed_port(host, socket.SOCK_STREAM), Protocol.TCP),
        Target(host, udp_responder.port, Protocol.UDP),
        Target(host, closed_port(host, socket.SOCK_DGRAM), Protocol.UDP),
        Target(host, udp_silent.port, Protocol.UDP),
    ]
    seen: dict[int, tuple[Seen | None, str, int]] = {}

    class Sink:
        def settled(self, probe: Target, address: str, outcome: Outcome, tries: int) -> None:
            seen[probe.port] = (outcome.state, outcome.reason, tries)

        def unresolved(self, probe: Target, why: str) -> None:
            raise AssertionError(why)

    async def main() -> int:
        backend = PortableBackend()
        timing = TimingSettings(initial_timeout=0.2, max_timeout=0.2, retries=1)
        engine = Engine(backend, lambda port: b"probe", EngineSettings(rate=0, timing=timing))
        await engine.run(targets, Sink())
        backend.close()
        return backend.held

    assert runner(main()) == 0
    assert [seen[t.port] for t in targets] == [
        (Seen.OPEN, "syn-ack", 1),
        (Seen.REFUSED, "conn-refused", 1),
        (Seen.OPEN, "udp-response", 1),
        (Seen.REFUSED, "port-unreach", 1),
        (None, "no-response", 2),
    ]
