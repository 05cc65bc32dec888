"""The probe engine: scheduling only. It sends probes concurrently through a backend
(``net.protocols.Backend``) and tells a sink how each one ended.

It works in *ticks*, not in callbacks per probe. One coroutine loops: read every answer
that came in (the backend's callbacks only append to a list and wake it), expire the tries
whose deadline passed, send what the rate limit and the window allow, hand the finished
probes to the sink, then sleep until the next answer, deadline or send slot. Deadlines and
delayed sends live in one heap: no timer, task, coroutine or future exists per probe, and
memory does not grow with the size of the run (probes are pulled lazily from the caller's
iterable while fewer than the window are in flight).

Answers are always read before deadlines are judged: when the loop falls behind (a burst,
a slow disk), an answer that reached this host before the loop got to it still counts,
instead of turning into silence and a retry. Backends that can send TCP probes without a
try object each (``SynScanner``: raw mode's, and connect mode's on Linux) are driven
through tickets: the engine hands a number with each SYN and reads the answers back as
(ticket, outcome) pairs.

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
import heapq
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from sepcheck.engine.resolver import Resolver, ipv4_only
from sepcheck.engine.slots import HostSlots
from sepcheck.engine.window import Window
from sepcheck.model import Protocol as Transport
from sepcheck.net.outcome import LocalResourceError, Outcome
from sepcheck.net.protocols import Backend, Channel, SynScanner, Try
from sepcheck.timing import RateLimiter, Timing, TimingSettings

_HEARTBEAT = 0.05
"""Seconds between event-loop lag measurements (adaptive window)."""
_SHORTAGE_WAIT = 0.01
"""Seconds a try waits after finding no free socket."""
_REFILL_WAIT = 0.002
"""Shortest sleep before admitting new probes under the rate limit: at high rates one
wake-up admits a batch."""
_EXPIRE, _SEND = 0, 1
"""What a timed event in the heap does when it falls due."""


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
        self.tickets = 0
        """The last SYN scanner ticket handed out: numbers are never reused across this
        engine's runs (a trace runs many on one backend)."""

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

    __slots__ = ("address", "answer", "channel", "probe", "serial", "ticket", "tries", "try_")

    def __init__(self, probe: P, address: str) -> None:
        self.probe = probe
        self.address = address
        self.tries = 0
        self.serial = 0
        """Bumped for each try, so a late answer or deadline of an earlier try is ignored."""
        self.try_: Try | None = None
        self.answer: Outcome | None = None
        """The answer its try passed on, until a tick (or its deadline) takes it."""
        self.ticket = 0
        """The SYN scanner's ticket of the try in flight (0: none)."""
        self.channel: Channel | None = None


class _Run(Generic[P]):
    """The state of one ``Engine.run``."""

    def __init__(self, engine: Engine, source: Iterator[P], sink: Sink[P], limit: int) -> None:
        settings = engine.settings
        self.engine = engine
        self.backend = engine.backend
        self.scanner: SynScanner | None = getattr(engine.backend, "syn_scanner", None)
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
        self.events: list[tuple[float, int, int, _Flight[P], int]] = []
        """Timed events, soonest first: (when, order, _EXPIRE or _SEND, flight, serial)."""
        self.order = 0
        self.tickets: dict[int, _Flight[P]] = {}
        self.answers: list[_Flight[P]] = []
        """Flights whose try passed on an answer (kept in ``_Flight.answer``) since the
        last tick."""
        self.resolved: list[tuple[P, str | None, str]] = []
        """Names resolved since the last tick: (probe, address or None, why not)."""
        self.finished: list[tuple[P, str, Outcome, int]] = []
        """Probes that ended in this tick, for the sink at its end."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.beat_due = 0.0
        self.beat_started = 0.0
        self.waited = 0.0
        """Seconds spent waiting in _sleep since the last heartbeat (the window's idle)."""
        self.refill_at = 0.0
        """Not before this time may new probes be admitted (the rate limit's debt)."""
        self.waiter: asyncio.Future[None] | None = None
        self.woken = False
        """Something arrived since the last tick began (the next sleep is skipped)."""
        self.failure: BaseException | None = None

    # -- driving -------------------------------------------------------------------------

    async def go(self) -> None:
        if self.scanner is not None:
            self.scanner.on_answer = self._wake
        self.beat_started = self.loop.time()
        self.beat_due = self.beat_started + _HEARTBEAT
        try:
            while True:
                self._tick()
                if self.exhausted and self.in_flight == 0:
                    return
                await self._sleep()
                if self.failure is not None:
                    raise self.failure
        finally:
            self._stop()

    def _wake(self) -> None:
        """Something arrived (an answer, a resolved name): run a tick soon."""
        self.woken = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _sleep(self) -> None:
        if self.woken:
            await asyncio.sleep(0)  # let the loop read what else came, then go on
            return
        when = self.beat_due
        if self.events and self.events[0][0] < when:
            when = self.events[0][0]
        if not self.exhausted and self.in_flight < self.window.size and self.refill_at < when:
            when = max(self.refill_at, self.loop.time() + _REFILL_WAIT)
        self.waiter = waiter = self.loop.create_future()
        timer = self.loop.call_at(when, self._wake)
        # The loop's clock (uvloop's counts whole milliseconds: a busy loop's short waits
        # count as little or nothing, which is the point), so virtual-time tests see it.
        began = self.loop.time()
        try:
            await waiter
        finally:
            self.waited += self.loop.time() - began
            timer.cancel()
            self.waiter = None

    def _tick(self) -> None:
        self.woken = False
        now = self.loop.time()
        if now >= self.beat_due:
            # in_flight counts the answers not yet taken: the last tick filled the window.
            spent = now - self.beat_started
            idle = self.waited / spent if spent > 0 else 1.0
            self.window.beat(now - self.beat_due, self.in_flight, idle)
            self.beat_due = now + _HEARTBEAT
            self.beat_started, self.waited = now, 0.0
        # Answers first: what reached this host before its deadline was looked at counts.
        self._take_answers()
        events = self.events
        while events and events[0][0] <= now:
            _, _, action, flight, serial = heapq.heappop(events)
            if flight.serial != serial:
                continue  # an earlier try's event: that try is over
            if action == _SEND:
                self._send(flight)
            else:
                self._expire(flight)
        self._admit_resolved()
        self._fill(now)
        self._deliver()

    def _take_answers(self) -> None:
        if self.scanner is not None:
            tickets = self.tickets
            for ticket, outcome in self.scanner.answers():
                flight = tickets.pop(ticket, None)
                if flight is not None and flight.ticket == ticket:
                    flight.ticket = 0
                    self._settled(flight, outcome)
        while self.answers:
            answers, self.answers = self.answers, []
            for flight in answers:
                answer = flight.answer
                if answer is not None:  # None: its deadline took it first
                    flight.answer = None
                    flight.try_ = None
                    self._settled(flight, answer)

    def _deliver(self) -> None:
        finished, self.finished = self.finished, []
        settled = self.sink.settled
        for probe, address, outcome, tries in finished:
            settled(probe, address, outcome, tries)

    # -- admitting probes ----------------------------------------------------------------

    def _fill(self, now: float) -> None:
        if now < self.refill_at:
            return
        while self.in_flight < self.window.size and not self.exhausted:
            # Under a rate limit, a new probe starts only when a send slot is free now:
            # tries already in flight (their retries) take the slots first, probes finish
            # at the rate the limit allows, and the window never outgrows what the rate
            # can serve (an interrupted run then keeps what it measured).
            wait = self.limiter.ready()
            if wait > 0:
                self.refill_at = now + wait
                break
            probe = next(self.source, None)
            if probe is None:
                self.exhausted = True
                break
            self.in_flight += 1
            if probe.address is None:
                task = self.loop.create_task(self._resolve(probe))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                self._admit(probe, probe.address)

    async def _resolve(self, probe: P) -> None:
        try:
            found = await self.engine.resolver.resolve(probe.host)
            if probe.ipv4_only:
                found = ipv4_only(found)
            if isinstance(found, str):
                self.resolved.append((probe, None, found))
            else:
                self.resolved.append((probe, found[0], ""))
            self._wake()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.failure = exc
            self._wake()

    def _admit_resolved(self) -> None:
        resolved, self.resolved = self.resolved, []
        for probe, address, why in resolved:
            if address is None:
                self.in_flight -= 1
                self.sink.unresolved(probe, why)
            else:
                self._admit(probe, address)

    def _admit(self, probe: P, address: str) -> None:
        if self.slots.take(address, probe):
            self._start(probe, address)

    def _start(self, probe: P, address: str) -> None:
        flight = _Flight(probe, address)
        self.flights.add(flight)
        self._schedule_try(flight)

    # -- the life of a try ---------------------------------------------------------------

    def _at(self, when: float, action: int, flight: _Flight[P]) -> None:
        self.order += 1
        events = self.events
        heapq.heappush(events, (when, self.order, action, flight, flight.serial))
        if len(events) > 4 * self.in_flight + 4096:
            # Events of finished tries stay until they fall due; past this many, drop
            # them at once, so memory follows what is in flight, not the send rate. In
            # place: a tick may be walking this very list.
            events[:] = [e for e in events if e[3].serial == e[4] and e[3] in self.flights]
            heapq.heapify(events)

    def _schedule_try(self, flight: _Flight[P]) -> None:
        wait = self.limiter.reserve()
        if wait > 0:
            self._at(self.loop.time() + wait, _SEND, flight)
        else:
            self._send(flight)

    def _send(self, flight: _Flight[P]) -> None:
        serial = flight.serial + 1
        probe = flight.probe
        try:
            if probe.protocol is Transport.UDP:
                if flight.channel is None:
                    flight.channel = self.backend.open_udp(flight.address, probe.port, probe.ttl)
                flight.try_ = flight.channel.send(
                    self.engine.datagram(probe.port), self._callback(flight, serial)
                )
            elif self.scanner is not None:
                ticket = self.engine.tickets + 1
                self.scanner.send_syn(ticket, flight.address, probe.port, probe.ttl)
                self.engine.tickets = ticket
                flight.ticket = ticket
                self.tickets[ticket] = flight
            else:
                flight.try_ = self.backend.start_tcp(
                    flight.address, probe.port, self._callback(flight, serial), probe.ttl
                )
        except LocalResourceError:
            # This try never started: it waits for a socket (its rate token is kept).
            self.window.shortage()
            self._at(self.loop.time() + _SHORTAGE_WAIT, _SEND, flight)
            return
        flight.serial = serial
        self._at(self.loop.time() + self.timing.timeout_for(flight.address), _EXPIRE, flight)

    def _callback(self, flight: _Flight[P], serial: int) -> Callable[[Outcome], None]:
        def done(outcome: Outcome) -> None:
            # The answer waits on the flight: its own deadline, judged later in the same
            # tick (another try's expire() can read answers on the way), takes it from
            # there. self.answers, not the list of the moment: each tick swaps in a new one.
            if flight.serial == serial and flight.try_ is not None and flight.answer is None:
                flight.answer = outcome
                self.answers.append(flight)
                self._wake()

        return done

    def _expire(self, flight: _Flight[P]) -> None:
        if flight.ticket:
            assert self.scanner is not None
            ticket, flight.ticket = flight.ticket, 0
            self.tickets.pop(ticket, None)
            self._settled(flight, self.scanner.expire(ticket))
            return
        attempt = flight.try_
        if attempt is None:
            return
        flight.try_ = None
        answer = flight.answer
        if answer is not None:
            # Answered earlier in this tick (after the answers were taken): that counts.
            flight.answer = None
            self._settled(flight, answer)
            return
        # Whatever expire() finds is its return value; an answer its callback passes on
        # the way finds ``try_`` cleared and settles nothing a second time.
        self._settled(flight, attempt.expire())

    def _settled(self, flight: _Flight[P], outcome: Outcome) -> None:
        flight.tries += 1
        if outcome.silent:
            if flight.tries <= self.timing.allowed_retries():
                self._schedule_try(flight)
                return
        else:
            self.timing.observe(flight.address, outcome.rtt, flight.tries - 1, outcome.rtt_exact)
        self._finish(flight, outcome)

    def _finish(self, flight: _Flight[P], outcome: Outcome) -> None:
        flight.serial += 1  # its pending events are void
        if flight.channel is not None:
            flight.channel.close()
            flight.channel = None
        self.flights.discard(flight)
        successor = self.slots.release(flight.address)
        if successor is not None:
            # The host's slot goes straight to the next probe waiting for it.
            self._start(successor, flight.address)
        self.in_flight -= 1
        self.finished.append((flight.probe, flight.address, outcome, flight.tries))

    # -- stopping ------------------------------------------------------------------------

    def _stop(self) -> None:
        if self.scanner is not None:
            self.scanner.on_answer = None
        for task in list(self.tasks):
            task.cancel()
        for flight in list(self.flights):
            if flight.ticket and self.scanner is not None:
                self.scanner.abort(flight.ticket)
                flight.ticket = 0
            if flight.try_ is not None:
                flight.try_.abort()
                flight.try_ = None
            if flight.channel is not None:
                flight.channel.close()
                flight.channel = None
        self.flights.clear()
        self.tickets.clear()
        self.events.clear()
