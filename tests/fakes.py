"""A scripted network and a virtual clock, for the engine's timing and retry logic.

``run_virtual()`` runs a coroutine on an asyncio event loop whose clock jumps ahead
whenever it would wait (like trio's autojump MockClock): a test with one-second timeouts
runs in microseconds, and virtual times can be asserted exactly. ``busy()`` spends virtual
time without yielding, as a callback doing heavy work would (an event loop that lags).
"""

from __future__ import annotations

import asyncio
import selectors
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen

OPEN = Outcome(Seen.OPEN, "syn-ack", None, 0.010)
REFUSED = Outcome(Seen.REFUSED, "conn-refused", None, 0.010)
UDP_REPLY = Outcome(Seen.OPEN, "udp-response", None, 0.020)

T = TypeVar("T")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector (the loop's self-pipe lives there), but never sleeps:
    a wait of t seconds moves the virtual clock by t instead."""

    def __init__(self, clock: _Clock) -> None:
        self.real = selectors.DefaultSelector()
        self.clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self.real.select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("virtual loop: nothing scheduled, the test would hang")
        self.clock.now += max(0.0, timeout)
        return []

    def get_map(self) -> Any:
        return self.real.get_map()

    def close(self) -> None:
        self.real.close()


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: _Clock) -> None:
        super().__init__(_VirtualSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, float]:
    """Run ``main()`` on a virtual-time loop; return its result and the virtual seconds."""
    clock = _Clock()
    loop = _VirtualLoop(clock)
    try:
        result = loop.run_until_complete(main())
    finally:
        loop.close()
    return result, clock.now


def busy(seconds: float) -> None:
    """Spend ``seconds`` of virtual time in the running callback, without yielding: the
    timers due meanwhile run late, as they do when the loop's CPU cannot keep up."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, _VirtualLoop):
        raise RuntimeError("busy() needs the loop of run_virtual()")
    loop.clock.now += seconds


@dataclass
class FakeTry:
    network: FakeNetwork
    address: str
    port: int
    started: float
    done: Callable[[Outcome], None]
    finished: bool = False

    def _end(self) -> None:
        if not self.finished:
            self.finished = True
            self.network.in_flight[self.address] -= 1
            self.network.total_in_flight -= 1

    def expire(self) -> Outcome:
        if self.network.expire_hook is not None:
            self.network.expire_hook(self)
        self.network.waits.append(
            (self.address, self.port, round(asyncio.get_running_loop().time() - self.started, 6))
        )
        self._end()
        found = self.network.found_at_deadline
        if found is not None:
            # What a real backend may do: reading the socket's final state also runs its
            # readiness callback, which reports the same answer to the engine.
            self.done(found)
            return found
        return SILENT

    def abort(self) -> None:
        self.network.aborted += 1
        self._end()


@dataclass
class FakeNetwork:
    """Outcomes per (address, port): a list consumed one per try (the last one repeats).
    A scripted answer arrives after its rtt in virtual time; SILENT never arrives."""

    script: dict[tuple[str, int], list[Outcome]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, int, float]] = field(default_factory=list)
    """(address, port, virtual time) of every try, in order."""
    waits: list[tuple[str, int, float]] = field(default_factory=list)
    """(address, port, seconds waited) of every try that timed out."""
    tries: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Tries started per (address, port)."""
    resolve_calls: list[str] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_in_flight: int = 0
    max_total_in_flight: int = 0
    load: list[tuple[float, int]] = field(default_factory=list)
    """(virtual time, tries in flight counting this one) at the start of every try."""
    channels_open: int = 0
    channels_closed: int = 0
    payloads: dict[tuple[str, int], list[bytes]] = field(default_factory=lambda: defaultdict(list))
    resource_errors: int = 0
    """How many tries fail with LocalResourceError before they start."""
    late_answers: bool = False
    """Answers still reach the engine's callback after their try timed out (a reply that
    was on its way when the deadline passed); by default a finished try stays quiet."""
    found_at_deadline: Outcome | None = None
    """When set, every try that times out finds this answer at its deadline: expire()
    returns it after passing it to the try's callback too."""
    late_callbacks: int = 0
    """Answers passed to the engine after their try had finished (see late_answers)."""
    aborted: int = 0
    attempts: list[FakeTry] = field(default_factory=list)
    """Every try started, in order."""
    expire_hook: Callable[[FakeTry], None] | None = None
    """Called as a try's deadline is judged, before it looks for an answer (a backend
    whose expire() reads sockets can pass on other tries' answers on the way)."""
    closed: bool = False
    name: str = "fake"

    async def resolve(self, name: str, family: int) -> list[str]:
        self.resolve_calls.append(name)
        await asyncio.sleep(0.001)
        if name not in self.names:
            raise OSError(-2, "Name or service not known")
        return self.names[name]

    def _start(self, address: str, port: int, done: Callable[[Outcome], None]) -> FakeTry:
        if self.resource_errors:
            self.resource_errors -= 1
            raise LocalResourceError(24, "Too many open files")
        loop = asyncio.get_running_loop()
        self.calls.append((address, port, loop.time()))
        self.in_flight[address] += 1
        self.total_in_flight += 1
        self.max_in_flight[address] = max(self.max_in_flight[address], self.in_flight[address])
        self.max_total_in_flight = max(self.max_total_in_flight, self.total_in_flight)
        self.load.append((loop.time(), self.total_in_flight))
        attempt = FakeTry(self, address, port, loop.time(), done)
        self.attempts.append(attempt)
        outcomes = self.script.get((address, port), [SILENT])
        self.tries[(address, port)] += 1
        outcome = outcomes[min(self.tries[(address, port)], len(outcomes)) - 1]
        if not outcome.silent:

            def answer() -> None:
                if not attempt.finished:
                    attempt._end()
                    done(outcome)
                elif self.late_answers:
                    self.late_callbacks += 1
                    done(outcome)

            loop.call_later(outcome.rtt or 0.0, answer)
        return attempt

    def start_tcp(
        self, address: str, port: int, done: Callable[[Outcome], None], ttl: int | None = None
    ) -> FakeTry:
        return self._start(address, port, done)

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> FakeChannel:
        self.channels_open += 1
        return FakeChannel(self, address, port)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeChannel:
    network: FakeNetwork
    address: str
    port: int

    def send(self, payload: bytes, done: Callable[[Outcome], None]) -> FakeTry:
        self.network.payloads[(self.address, self.port)].append(payload)
        return self.network._start(self.address, self.port, done)

    def close(self) -> None:
        self.network.channels_closed += 1


class FakeScanner:
    """A scripted network behind the SYN scanner's batch interface (``SynScanner``):
    answers come back by ticket. ``quiet``: an answer waits unread (as in a raw socket's
    buffer) and never wakes the engine; only a call to ``answers()`` finds it."""

    def __init__(self, network: FakeNetwork, *, quiet: bool = False) -> None:
        self.network = network
        self.quiet = quiet
        self.on_answer: Callable[[], None] | None = None
        self.arrived: dict[int, Outcome] = {}
        self.live: dict[int, FakeTry] = {}
        self.sent: list[int] = []
        self.aborted: list[int] = []

    def send_syn(self, ticket: int, address: str, port: int, ttl: int | None) -> None:
        self.sent.append(ticket)

        def done(outcome: Outcome) -> None:
            if self.live.pop(ticket, None) is None:
                return  # expired or aborted: never answered after that
            self.arrived[ticket] = outcome
            if not self.quiet and self.on_answer is not None:
                self.on_answer()

        self.live[ticket] = self.network._start(address, port, done)

    def answers(self) -> list[tuple[int, Outcome]]:
        arrived = list(self.arrived.items())
        self.arrived.clear()
        return arrived

    def expire(self, ticket: int) -> Outcome:
        found = self.arrived.pop(ticket, None)
        if found is not None:
            return found  # answered since the engine last read the answers
        attempt = self.live.pop(ticket, None)
        return SILENT if attempt is None else attempt.expire()

    def abort(self, ticket: int) -> None:
        attempt = self.live.pop(ticket, None)
        if attempt is not None:
            self.aborted.append(ticket)
            attempt.abort()


def with_scanner(network: FakeNetwork, *, quiet: bool = False) -> FakeNetwork:
    """``network`` with a SYN scanner: the engine sends its TCP probes through it."""
    network.syn_scanner = FakeScanner(network, quiet=quiet)  # type: ignore[attr-defined]
    return network
