"""The probe engine: send the plan's probes concurrently and report each result.

Callback-driven for a low cost per probe: probes are pulled lazily from the plan while
fewer than the concurrency window are in flight; each try is a backend socket plus one
timer; when it settles (or its deadline passes) the result goes to the caller's ``sink``
and the next probe is pulled. No task, coroutine or future exists per probe, and memory
does not grow with the size of the run.

Limits: the concurrency window (adaptive: it grows while the event loop keeps up and shrinks
when the loop lags, up to --concurrency and under the open-file limit), a per-destination
cap, and a packets-per-second token bucket. Running out of sockets makes a try wait and
start again instead of failing the run. Timing and retries: see timing.py. Names are
resolved once each (see _Resolver).

The engine never prints and never decides pass or fail: that is verdict.py's job.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from sepcheck.model import Protocol as Transport
from sepcheck.net.classify import classify_errno
from sepcheck.payloads import PayloadSet
from sepcheck.plan import Probe
from sepcheck.results import LocalResourceError, Outcome, ProbeResult, State
from sepcheck.timing import RateLimiter, Timing, TimingSettings

# Sockets kept free for the rest of the process (resolver, report files, stdio).
_FD_RESERVE = 64
_HEARTBEAT = 0.05
"""Seconds between event-loop lag measurements (adaptive concurrency)."""
_LAG_LOW, _LAG_HIGH = 0.05, 0.25
"""Below the first, a window in full use may grow; above the second, it halves. Lag never
changes a verdict (tries read the kernel's state when their deadline passes), it only
delays timers, so the engine tolerates some to keep the CPU busy."""

Done = Callable[[Outcome], None]


class Try(Protocol):
    def expire(self) -> Outcome: ...

    def abort(self) -> None: ...


class Channel(Protocol):
    def send(self, payload: bytes, done: Done) -> Try: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """What the engine needs from the network (real sockets, or a scripted fake)."""

    async def resolve(self, name: str, family: int) -> list[str]: ...

    def start_tcp(self, address: str, port: int, done: Done) -> Try: ...

    def open_udp(self, address: str, port: int) -> Channel: ...

    def close(self) -> None:
        """Release what the backend holds for the run (called when the run ends)."""


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


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit toward ``wanted`` (within the hard limit) and return
    how many probes may be in flight under it."""
    if sys.platform == "win32":
        return wanted
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + _FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < target:
        new = target if hard == resource.RLIM_INFINITY else min(target, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - _FD_RESERVE))


class _Resolver:
    """Resolves each name once per run; concurrent probes of a name share the lookup."""

    def __init__(self, backend: Backend, family: int) -> None:
        self.backend = backend
        self.family = family
        self.cache: dict[str, asyncio.Future[list[str] | str]] = {}

    async def resolve(self, name: str) -> list[str] | str:
        """The addresses of ``name``, or the error text when it does not resolve."""
        future = self.cache.get(name)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self.cache[name] = future
            try:
                addresses = await self.backend.resolve(name, self.family)
                future.set_result(addresses or "no address")
            except OSError as exc:
                future.set_result(exc.strerror or str(exc))
            except BaseException:
                del self.cache[name]
                future.cancel()
                raise
        return await asyncio.shield(future)


class _Flight:
    """One probe in flight: its tries so far and what is pending for it."""

    __slots__ = ("address", "channel", "probe", "serial", "timer", "tries", "try_")

    def __init__(self, probe: Probe, address: str) -> None:
        self.probe = probe
        self.address = address
        self.tries = 0
        self.serial = 0
        """Bumped for each try, so a late callback of an earlier try is ignored."""
        self.try_: Try | None = None
        self.channel: Channel | None = None
        self.timer: asyncio.TimerHandle | None = None


class Engine:
    def __init__(
        self, backend: Backend, payloads: PayloadSet, settings: EngineSettings | None = None
    ) -> None:
        self.backend = backend
        self.payloads = payloads
        self.settings = settings or EngineSettings()
        self.timing = Timing(self.settings.timing)
        self.resolver = _Resolver(backend, self.settings.family)
        self.window = max(1, min(self.settings.initial_window, self.settings.concurrency))
        self.peak_window = self.window
        self._payload_cache: dict[int, bytes] = {}

    async def run(
        self,
        probes: Iterable[Probe],
        sink: Callable[[ProbeResult], None],
        *,
        concurrency: int | None = None,
    ) -> None:
        """Probe everything in ``probes``, calling ``sink`` with each result as it is known.
        Cancelling stops at once and closes every socket; results already given stay."""
        run = _Run(self, iter(probes), sink, concurrency or self.settings.concurrency)
        await run.go()


class _Run:
    """The state of one ``Engine.run``: kept apart so the engine holds no per-run state."""

    def __init__(
        self,
        engine: Engine,
        source: Iterator[Probe],
        sink: Callable[[ProbeResult], None],
        limit: int,
    ) -> None:
        self.engine = engine
        self.backend = engine.backend
        self.timing = engine.timing
        self.source = source
        self.sink = sink
        self.limit = max(1, limit)
        self.loop = asyncio.get_running_loop()
        self.limiter = RateLimiter(engine.settings.rate, self.loop.time)
        self.per_host = engine.settings.per_host
        self.in_flight = 0
        self.flights: set[_Flight] = set()
        self.host_load: dict[str, int] = {}
        self.host_queue: dict[str, deque[Probe]] = {}
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
            self.backend.close()

    def _guard(self, call: Callable[[], None]) -> None:
        """Run ``call``; an exception ends the run with it (callbacks cannot raise)."""
        try:
            call()
        except BaseException as exc:
            if not self.finished.done():
                self.finished.set_exception(exc)

    def _fill(self) -> None:
        window = min(self.engine.window, self.limit)
        while self.in_flight < window and not self.exhausted:
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

    async def _resolve_then_admit(self, probe: Probe) -> None:
        try:
            found = await self.engine.resolver.resolve(probe.host)
            if probe.ipv4_only and not isinstance(found, str):
                # NetBIOS over TCP/IP has no IPv6 form: a name's IPv6 addresses are no path.
                found = [a for a in found if ":" not in a] or (
                    "it has no IPv4 address, and this protocol is IPv4 only"
                )
            if isinstance(found, str):
                self._deliver(
                    ProbeResult(
                        probe,
                        None,
                        State.UNRESOLVED,
                        "unresolved",
                        None,
                        None,
                        0,
                        f"name does not resolve: {found}",
                    )
                )
                self._fill()
                return
            self._admit(probe, found[0])
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self.finished.done():
                self.finished.set_exception(exc)

    def _admit(self, probe: Probe, address: str) -> None:
        load = self.host_load.get(address, 0)
        if load >= self.per_host:
            self.host_queue.setdefault(address, deque()).append(probe)
            return
        self.host_load[address] = load + 1
        flight = _Flight(probe, address)
        self.flights.add(flight)
        self._schedule_try(flight)

    def _schedule_try(self, flight: _Flight) -> None:
        wait = self.limiter.reserve()
        if wait > 0:
            flight.timer = self.loop.call_later(wait, self._guard_send, flight)
        else:
            self._send(flight)

    def _guard_send(self, flight: _Flight) -> None:
        self._guard(lambda: self._send(flight))

    def _send(self, flight: _Flight) -> None:
        flight.serial += 1
        serial = flight.serial
        probe = flight.probe

        def done(outcome: Outcome) -> None:
            if flight.serial == serial and flight.try_ is not None:
                self._guard(lambda: self._settled(flight, outcome))

        try:
            if probe.protocol is Transport.UDP:
                if flight.channel is None:
                    flight.channel = self.backend.open_udp(flight.address, probe.port)
                flight.try_ = flight.channel.send(self._payload(probe.port), done)
            else:
                flight.try_ = self.backend.start_tcp(flight.address, probe.port, done)
        except LocalResourceError:
            # Out of sockets: others will free theirs; try again shortly, and narrow
            # the window so it does not happen again.
            self.engine.window = max(1, self.engine.window // 2)
            flight.timer = self.loop.call_later(0.01, self._guard_send, flight)
            return
        except OSError as exc:
            found = classify_errno(exc.errno or 0, udp=probe.protocol is Transport.UDP)
            state, reason = found if found else (State.FILTERED, "local-error")
            flight.try_ = None
            self._finish(flight, Outcome(state, reason))
            return
        flight.timer = self.loop.call_later(
            self.timing.timeout_for(flight.address), self._guard_expire, flight, serial
        )

    def _guard_expire(self, flight: _Flight, serial: int) -> None:
        if flight.serial != serial or flight.try_ is None:
            return
        attempt = flight.try_
        # Whatever expire() finds is its return value; a callback it triggers on the way
        # must not settle the flight a second time.
        flight.try_ = None
        self._guard(lambda: self._settled(flight, attempt.expire()))

    def _settled(self, flight: _Flight, outcome: Outcome) -> None:
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

    def _finish(self, flight: _Flight, outcome: Outcome) -> None:
        if flight.channel is not None:
            flight.channel.close()
            flight.channel = None
        self.flights.discard(flight)
        address = flight.address
        queued = self.host_queue.get(address)
        if queued:
            # Hand the host's slot straight to the next probe waiting for it.
            next_probe = queued.popleft()
            if not queued:
                del self.host_queue[address]
            successor = _Flight(next_probe, address)
            self.flights.add(successor)
            self._schedule_try(successor)
        else:
            load = self.host_load[address] - 1
            if load:
                self.host_load[address] = load
            else:
                del self.host_load[address]
        self._deliver(_result(flight, outcome))
        self._fill()

    def _deliver(self, result: ProbeResult) -> None:
        self.in_flight -= 1
        self.sink(result)

    # -- adaptive window -----------------------------------------------------------------

    def _schedule_beat(self) -> None:
        self.beat_due = self.loop.time() + _HEARTBEAT
        self.beat = self.loop.call_at(self.beat_due, self._on_beat)

    def _on_beat(self) -> None:
        lag = self.loop.time() - self.beat_due
        engine = self.engine
        if lag > _LAG_HIGH:
            # The loop cannot keep up: fewer probes in flight until it can.
            engine.window = max(64, engine.window // 2)
        elif lag < _LAG_LOW and self.in_flight >= engine.window:
            engine.window = min(self.limit, engine.window + max(64, engine.window // 4))
            engine.peak_window = max(engine.peak_window, engine.window)
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

    def _payload(self, port: int) -> bytes:
        # Fixed payloads are rendered once; templated ones (syslog) carry a fresh timestamp.
        payload = self.engine.payloads.for_port(port)
        if payload.hex is not None:
            cached = self.engine._payload_cache.get(port)
            if cached is None:
                cached = self.engine._payload_cache[port] = payload.render(port)
            return cached
        return payload.render(port)


def _result(flight: _Flight, outcome: Outcome) -> ProbeResult:
    probe, address, tries = flight.probe, flight.address, flight.tries
    if outcome.silent:
        state = State.OPEN_FILTERED if probe.protocol is Transport.UDP else State.FILTERED
        detail = f"no-response after {tries} {'try' if tries == 1 else 'tries'}"
    else:
        assert outcome.state is not None
        state = outcome.state
        if outcome.note:
            detail = outcome.note
        elif outcome.reply_from and outcome.reply_from != address:
            detail = f"{outcome.reason} by {outcome.reply_from}"
        else:
            detail = outcome.reason
        if outcome.ttl is not None and not outcome.note:
            detail += f" (ttl {outcome.ttl})"
    rtt_ms = round(outcome.rtt * 1000, 3) if outcome.rtt is not None else None
    return ProbeResult(
        probe,
        address,
        state,
        outcome.reason,
        outcome.reply_from,
        rtt_ms,
        max(tries, 1),
        detail,
        outcome.ttl,
    )
