"""The probe engine: send the plan's probes concurrently and report each result.

Probes are pulled lazily from the plan by a fixed pool of workers (``concurrency``), so
memory does not grow with the size of the run; each result is handed to the caller's
``sink`` as soon as it is known. Limits: the worker pool (global concurrency), a
per-destination cap, a packets-per-second token bucket, and the open-file limit (raised
where allowed, and concurrency kept under it; running out of sockets anyway makes a worker
wait and try again instead of failing the run). Timing and retries: see timing.py.

The engine never prints and never decides pass or fail: that is verdict.py's job.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sepcheck.net.classify import classify_errno
from sepcheck.payloads import PayloadSet
from sepcheck.plan import Probe
from sepcheck.results import LocalResourceError, Outcome, ProbeResult, State
from sepcheck.timing import RateLimiter, Timing, TimingSettings

# Sockets kept free for the rest of the process (resolver, report files, stdio).
_FD_RESERVE = 64


class UdpSessionLike(Protocol):
    async def attempt(self, payload: bytes, timeout: float) -> Outcome: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """What the engine needs from the network (real sockets, or a scripted fake)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def resolve(self, name: str, family: int) -> list[str]: ...

    async def tcp_attempt(self, address: str, port: int, timeout: float) -> Outcome: ...

    def open_udp(self, address: str, port: int) -> UdpSessionLike: ...


@dataclass(frozen=True)
class EngineSettings:
    concurrency: int = 512
    """Probes in flight at once (--concurrency)."""
    per_host: int = 32
    """Probes in flight toward one address."""
    rate: float = 10_000.0
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


class _HostSlots:
    """Per-destination concurrency cap; entries disappear when no probe uses them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, address: str) -> AsyncIterator[None]:
        entry = self.slots.get(address)
        if entry is None:
            entry = (asyncio.Semaphore(self.limit), [0])
            self.slots[address] = entry
        semaphore, users = entry
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self.slots[address]


class Engine:
    def __init__(
        self, backend: Backend, payloads: PayloadSet, settings: EngineSettings | None = None
    ) -> None:
        self.backend = backend
        self.payloads = payloads
        self.settings = settings or EngineSettings()
        self.timing = Timing(self.settings.timing)
        self.resolver = _Resolver(backend, self.settings.family)
        self.slots = _HostSlots(self.settings.per_host)
        self.limiter = RateLimiter(self.settings.rate, backend.now, backend.sleep)

    async def run(
        self,
        probes: Iterable[Probe],
        sink: Callable[[ProbeResult], None],
        *,
        concurrency: int | None = None,
    ) -> None:
        """Probe everything in ``probes``, calling ``sink`` with each result as it is known.
        Cancelling the task stops the workers and closes every socket."""
        workers = concurrency if concurrency is not None else self.settings.concurrency
        source: Iterator[Probe] = iter(probes)
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, workers)):
                group.create_task(self._worker(source, sink))

    async def _worker(self, source: Iterator[Probe], sink: Callable[[ProbeResult], None]) -> None:
        for probe in source:
            sink(await self.probe(probe))

    async def probe(self, probe: Probe) -> ProbeResult:
        address = probe.address
        if address is None:
            found = await self.resolver.resolve(probe.host)
            if isinstance(found, str):
                return ProbeResult(
                    probe,
                    None,
                    State.UNRESOLVED,
                    "unresolved",
                    None,
                    None,
                    0,
                    f"name does not resolve: {found}",
                )
            address = found[0]
        async with self.slots.hold(address):
            if probe.protocol.value == "udp":
                return await self._udp(probe, address)
            return await self._tcp(probe, address)

    async def _retrying(
        self, address: str, attempt: Callable[[float], Awaitable[Outcome]]
    ) -> tuple[Outcome, int]:
        tries = 0
        while True:
            await self.limiter.acquire()
            timeout = self.timing.timeout_for(address)
            outcome = await self._with_backoff(functools.partial(attempt, timeout))
            if not outcome.silent:
                self.timing.observe(address, outcome.rtt, tries, outcome.rtt_exact)
                return outcome, tries + 1
            tries += 1
            if tries > self.timing.allowed_retries():
                return outcome, tries

    async def _with_backoff(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        delay = 0.01
        while True:
            try:
                return await call()
            except LocalResourceError:
                # Out of sockets: others will free theirs; wait instead of failing.
                await self.backend.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _tcp(self, probe: Probe, address: str) -> ProbeResult:
        outcome, tries = await self._retrying(
            address, lambda timeout: self.backend.tcp_attempt(address, probe.port, timeout)
        )
        if outcome.silent:
            return _result(probe, address, State.FILTERED, outcome, tries)
        assert outcome.state is not None
        return _result(probe, address, outcome.state, outcome, tries)

    async def _udp(self, probe: Probe, address: str) -> ProbeResult:
        payload = self.payloads.for_port(probe.port).render(probe.port)
        session = await self._with_backoff_open(address, probe.port)
        if isinstance(session, Outcome):
            return _result(probe, address, session.state or State.FILTERED, session, 1)
        try:
            outcome, tries = await self._retrying(
                address, lambda timeout: session.attempt(payload, timeout)
            )
        finally:
            session.close()
        if outcome.silent:
            return _result(probe, address, State.OPEN_FILTERED, outcome, tries)
        assert outcome.state is not None
        return _result(probe, address, outcome.state, outcome, tries)

    async def _with_backoff_open(self, address: str, port: int) -> UdpSessionLike | Outcome:
        delay = 0.01
        while True:
            try:
                return self.backend.open_udp(address, port)
            except LocalResourceError:
                await self.backend.sleep(delay)
                delay = min(delay * 2, 1.0)
            except OSError as exc:
                found = classify_errno(exc.errno or 0, udp=True)
                state, reason = found if found else (State.FILTERED, "local-error")
                return Outcome(state, reason)


def _result(probe: Probe, address: str, state: State, outcome: Outcome, tries: int) -> ProbeResult:
    if outcome.silent:
        detail = f"no-response after {tries} {'try' if tries == 1 else 'tries'}"
    elif outcome.reply_from and outcome.reply_from != address:
        detail = f"{outcome.reason} by {outcome.reply_from}"
    else:
        detail = outcome.reason
    rtt_ms = round(outcome.rtt * 1000, 3) if outcome.rtt is not None else None
    return ProbeResult(
        probe=probe,
        address=address,
        state=state,
        reason=outcome.reason,
        reply_from=outcome.reply_from,
        rtt_ms=rtt_ms,
        attempts=tries,
        detail=detail,
    )
