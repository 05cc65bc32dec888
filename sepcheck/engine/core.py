"""The probe engine: scheduling only. It sends probes concurrently through a backend
(``net.protocols.Backend``) and tells a sink how each one ended.

Callback-driven for a low cost per probe: probes are pulled lazily from the caller's
iterable while fewer than the window are in flight; each try is a backend socket plus one
timer; when it settles (or its deadline passes) the sink hears of it and the next probe is
pulled. No task, coroutine or future exists per probe, and memory does not grow with the
size of the run.

Limits, each a small unit of its own: the concurrency window (``window.py``: adaptive, up
to --concurrency and under the open-file limit), per-destination slots (``slots.py``), and
a packets-per-second token bucket (``timing.RateLimiter``). Running out of sockets makes a
try wait and start again instead of failing the run. Timing and retries: ``timing.py``.
Names are resolved once each (``resolver.py``).

The engine never prints, never words a result and never decides pass or fail: the sink
turns outcomes into results (``results.probe_result``), ``verdict.py`` judges them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from sepcheck.engine.resolver import Resolver, ipv4_only
from sepcheck.engine.slots import HostSlots
from sepcheck.engine.window import Window
from sepcheck.model import Protocol as Transport
from sepcheck.net.outcome import LocalResourceError, Outcome
from sepcheck.net.protocols import Backend, Channel, Try
from sepcheck.timing import RateLimiter, Timing, TimingSettings

_HEARTBEAT = 0.05
"""Seconds between event-loop lag measurements (adaptive window)."""
_SHORTAGE_WAIT = 0.01
"""Seconds a try waits after finding no free socket."""


class Target(Protocol):
    """What the engine reads of a probe (a plan's Probe, a trace's hop probe)."""

    @property
    def host(self) -> str: ...
    @property
    def address(self) -> str | None:
        """The address to probe; None: resolve ``host`` first."""
        ...

    @property
    def protocol(self) -> Transport: ...
    @property
    def port(self) -> int: ...
    @property
    def ipv4_only(self) -> bool: ...
    @property
    def ttl(self) -> int | None: ...


P = TypeVar("P", bound=Target)
P_contra = TypeVar("P_contra", bound=Target, contravariant=True)


class Sink(Protocol[P_contra]):
    """Where the engine says how each probe ended (called once per probe)."""

    def settled(self, probe: P_contra, address: str, outcome: Outcome, tries: int) -> None:
        """The probe's last try ended with ``outcome`` (SILENT: every try was silent)."""

    def unresolved(self, probe: P_contra, why: str) -> None:
        """The probe's host name gave no address to probe."""


@dataclass(frozen=True)
class EngineSettings:
    concurrency: int = 4096
    """Most probes in flight at once (--concurrency); the window adapts below it."""
    initial_window: int = 512
    """Probes in flight at the start, before the loop's lag is known."""
    per_host: int = 32
    """Probes in flight toward one address."""
    rate: float = 20_000.0
    """Packets per second; 0 for no limit (--rate)."""
    family: int = socket.AF_UNSPEC
    """Address family for names: AF_INET (-4), AF_INET6 (-6) or either."""
    timing: TimingSettings = field(default_factory=TimingSettings)


@dataclass(frozen=True)
class RunStats:
    peak_window: int
    windows: tuple[int, ...]
    """Every size the window took, in order."""


class Engine:
    """Holds what lasts across runs: the backend, the payloads, the settings and the
    timing estimates (RTTs learned by one run serve the next)."""

    def __init__(
        self,
        backend: Backend,
        datagram: Callable[[int], bytes],
        settings: EngineSettings | None = None,
    ) -> None:
        self.backend = backend
        self.datagram = datagram
        """What a UDP try to a port carries."""
        self.settings = settings or EngineSettings()
        self.timing = Timing(self.settings.timing)
        self.resolver = Resolver(backend, self.settings.family)

    async def run(
        self, probes: Iterable[P], sink: Sink[P], *, concurrency: int | None = None
    ) -> RunStats:
        """Probe everything in ``probes``, telling ``sink`` how each ended as soon as it is
        known. Cancelling stops at once and drops every try; what the sink heard stays.
        The backend stays open: its owner closes it."""
        run = _Run(self, iter(probes), sink, concurrency or self.settings.concurrency)
        await run.go()
        return RunStats(run.window.peak, tuple(run.window.history))


class _Flight(Generic[P]):
    """One probe in flight: its tries so far and what is pending for it."""

    __slots__ = ("address", "channel", "probe", "serial", "timer", "tries", "try_")

    def __init__(self, probe: P, address: str) -> None:
        self.probe = probe
        self.address = address
        self.tries = 0
        self.serial = 0
        """Bumped for each try, so a late callback of an earlier try is ignored."""
        self.try_: Try | None = None
        self.channel: Channel | None = None
        self.timer: asyncio.TimerHandle | None = None


class _Run(Generic[P]):
    """The state of one ``Engine.run``."""

    def __init__(self, engine: Engine, source: Iterator[P], sink: Sink[P], limit: int) -> None:
        settings = engine.settings
        self.engine = engine
        self.backend = engine.backend
        self.timing = engine.timing
        self.source = source
        self.sink = sink
        self.loop = asyncio.get_running_loop()
        self.window = Window(settings.initial_window, min(limit, settings.concurrency))
        self.limiter = RateLimiter(settings.rate, self.loop.time)
        self.slots: HostSlots[P] = HostSlots(settings.per_host)
        self.in_flight = 0
        self.flights: set[_Flight[P]] = set()
        self.exhausted = False
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.tasks: set[asyncio.Task[None]] = set()
        self.beat_due = 0.0
        self.beat: asyncio.TimerHandle | None = None
        self.refill: asyncio.TimerHandle | None = None

    # -- driving -------------------------------------------------------------------------

    async def go(self) -> None:
        self._guard(self._fill)
        self._schedule_beat()
        try:
            await self.finished
        finally:
            self._stop()

    def _guard(self, call: Callable[[], None]) -> None:
        """Run ``call``; an exception ends the run with it (callbacks cannot raise)."""
        try:
            call()
        except BaseException as exc:
            if not self.finished.done():
                self.finished.set_exception(exc)

    def _fill(self) -> None:
        while self.in_flight < self.window.size and not self.exhausted:
            # Under a rate limit, a new probe starts only when a send slot is free now:
            # tries already in flight (their retries) take the slots first, probes finish
            # at the rate the limit allows, and the window never outgrows what the rate
            # can serve (an interrupted run then keeps what it measured).
            wait = self.limiter.ready()
            if wait > 0:
                self._refill_later(wait)
                break
            probe = next(self.source, None)
            if probe is None:
                self.exhausted = True
                break
            self.in_flight += 1
            if probe.address is None:
                task = self.loop.create_task(self._resolve_then_admit(probe))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                self._admit(probe, probe.address)
        if self.exhausted and self.in_flight == 0 and not self.finished.done():
            self.finished.set_result(None)

    def _refill_later(self, wait: float) -> None:
        if self.refill is None:
            # Not sooner than every 2 ms: at high rates one wake-up admits a batch.
            self.refill = self.loop.call_later(max(wait, 0.002), self._on_refill)

    def _on_refill(self) -> None:
        self.refill = None
        self._guard(self._fill)

    async def _resolve_then_admit(self, probe: P) -> None:
        try:
            found = await self.engine.resolver.resolve(probe.host)
            if probe.ipv4_only:
                found = ipv4_only(found)
            if isinstance(found, str):
                self.in_flight -= 1
                self.sink.unresolved(probe, found)
                self._fill()
                return
            self._admit(probe, found[0])
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self.finished.done():
                self.finished.set_exception(exc)

    def _admit(self, probe: P, address: str) -> None:
        if self.slots.take(address, probe):
            self._start(probe, address)

    def _start(self, probe: P, address: str) -> None:
        flight = _Flight(probe, address)
        self.flights.add(flight)
        self._schedule_try(flight)

    # -- the life of a try ---------------------------------------------------------------

    def _schedule_try(self, flight: _Flight[P]) -> None:
        wait = self.limiter.reserve()
        if wait > 0:
            flight.timer = self.loop.call_later(wait, self._guard_send, flight)
        else:
            self._send(flight)

    def _guard_send(self, flight: _Flight[P]) -> None:
        self._guard(lambda: self._send(flight))

    def _send(self, flight: _Flight[P]) -> None:
        flight.serial += 1
        serial = flight.serial
        probe = flight.probe

        def done(outcome: Outcome) -> None:
            if flight.serial == serial and flight.try_ is not None:
                self._guard(lambda: self._settled(flight, outcome))

        try:
            if probe.protocol is Transport.UDP:
                if flight.channel is None:
                    flight.channel = self.backend.open_udp(flight.address, probe.port, probe.ttl)
                flight.try_ = flight.channel.send(self.engine.datagram(probe.port), done)
            else:
                flight.try_ = self.backend.start_tcp(flight.address, probe.port, done, probe.ttl)
        except LocalResourceError:
            self.window.shortage()
            flight.timer = self.loop.call_later(_SHORTAGE_WAIT, self._guard_send, flight)
            return
        flight.timer = self.loop.call_later(
            self.timing.timeout_for(flight.address), self._guard_expire, flight, serial
        )

    def _guard_expire(self, flight: _Flight[P], serial: int) -> None:
        if flight.serial != serial or flight.try_ is None:
            return
        attempt = flight.try_
        # Whatever expire() finds is its return value; a callback it triggers on the way
        # must not settle the flight a second time.
        flight.try_ = None
        self._guard(lambda: self._settled(flight, attempt.expire()))

    def _settled(self, flight: _Flight[P], outcome: Outcome) -> None:
        if flight.timer is not None:
            flight.timer.cancel()
            flight.timer = None
        flight.try_ = None
        flight.tries += 1
        if outcome.silent:
            if flight.tries <= self.timing.allowed_retries():
                self._schedule_try(flight)
                return
        else:
            self.timing.observe(flight.address, outcome.rtt, flight.tries - 1, outcome.rtt_exact)
        self._finish(flight, outcome)

    def _finish(self, flight: _Flight[P], outcome: Outcome) -> None:
        if flight.channel is not None:
            flight.channel.close()
            flight.channel = None
        self.flights.discard(flight)
        successor = self.slots.release(flight.address)
        if successor is not None:
            # The host's slot goes straight to the next probe waiting for it.
            self._start(successor, flight.address)
        self.in_flight -= 1
        self.sink.settled(flight.probe, flight.address, outcome, flight.tries)
        self._fill()

    # -- adaptive window -----------------------------------------------------------------

    def _schedule_beat(self) -> None:
        self.beat_due = self.loop.time() + _HEARTBEAT
        self.beat = self.loop.call_at(self.beat_due, self._on_beat)

    def _on_beat(self) -> None:
        self.window.beat(self.loop.time() - self.beat_due, self.in_flight)
        self._guard(self._fill)
        if not self.finished.done():
            self._schedule_beat()

    # -- stopping ------------------------------------------------------------------------

    def _stop(self) -> None:
        if self.beat is not None:
            self.beat.cancel()
        if self.refill is not None:
            self.refill.cancel()
        for task in list(self.tasks):
            task.cancel()
        for flight in list(self.flights):
            if flight.timer is not None:
                flight.timer.cancel()
            if flight.try_ is not None:
                flight.try_.abort()
                flight.try_ = None
            if flight.channel is not None:
                flight.channel.close()
                flight.channel = None
        self.flights.clear()
