"""A scripted network and a virtual clock, for the engine's timing and retry logic.

``virtual_loop()`` is an asyncio event loop whose clock jumps ahead whenever it would wait
(like trio's autojump MockClock): a test with one-second timeouts runs in microseconds,
and virtual times can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import selectors
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sepcheck.results import SILENT, LocalResourceError, Outcome, State

OPEN = Outcome(State.OPEN, "syn-ack", None, 0.010)
REFUSED = Outcome(State.REFUSED, "conn-refused", None, 0.010)
UDP_REPLY = Outcome(State.OPEN, "udp-response", None, 0.020)

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


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, float]:
    """Run ``main()`` on a virtual-time loop; return its result and the virtual seconds."""
    clock = _Clock()
    loop = asyncio.SelectorEventLoop(_VirtualSelector(clock))
    loop.time = lambda: clock.now  # type: ignore[method-assign]
    try:
        result = loop.run_until_complete(main())
    finally:
        loop.close()
    return result, clock.now


@dataclass
class FakeTry:
    network: FakeNetwork
    address: str
    port: int
    started: float
    finished: bool = False

    def _end(self) -> None:
        if not self.finished:
            self.finished = True
            self.network.in_flight[self.address] -= 1
            self.network.total_in_flight -= 1

    def expire(self) -> Outcome:
        self.network.waits.append(
            (self.address, self.port, round(asyncio.get_running_loop().time() - self.started, 6))
        )
        self._end()
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
    resolve_calls: list[str] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_in_flight: int = 0
    max_total_in_flight: int = 0
    channels_open: int = 0
    channels_closed: int = 0
    payloads: dict[tuple[str, int], list[bytes]] = field(default_factory=lambda: defaultdict(list))
    resource_errors: int = 0
    """How many tries fail with LocalResourceError before they start."""
    aborted: int = 0
    closed: bool = False

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
        attempt = FakeTry(self, address, port, loop.time())
        outcomes = self.script.get((address, port), [SILENT])
        tries = sum(1 for a, p, _ in self.calls if (a, p) == (address, port))
        outcome = outcomes[min(tries, len(outcomes)) - 1]
        if not outcome.silent:

            def answer() -> None:
                if not attempt.finished:
                    attempt._end()
                    done(outcome)

            loop.call_later(outcome.rtt or 0.0, answer)
        return attempt

    def start_tcp(self, address: str, port: int, done: Callable[[Outcome], None]) -> FakeTry:
        return self._start(address, port, done)

    def open_udp(self, address: str, port: int) -> FakeChannel:
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
