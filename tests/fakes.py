"""A scripted network and a virtual clock, for the engine's timing and retry logic."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from sepcheck.results import SILENT, LocalResourceError, Outcome, State

OPEN = Outcome(State.OPEN, "syn-ack", None, 0.010)
REFUSED = Outcome(State.REFUSED, "conn-refused", None, 0.010)
UDP_REPLY = Outcome(State.OPEN, "udp-response", None, 0.020)


@dataclass
class FakeNetwork:
    """Outcomes per (address, port): a list consumed one per try (the last one repeats).
    Silent tries advance the virtual clock by the wait they were given."""

    script: dict[tuple[str, int], list[Outcome]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    clock: float = 0.0
    calls: list[tuple[str, int, float]] = field(default_factory=list)
    """(address, port, wait) of every attempt, in order."""
    resolve_calls: list[str] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_in_flight: int = 0
    max_total_in_flight: int = 0
    sessions_open: int = 0
    sessions_closed: int = 0
    resource_errors: int = 0
    """How many attempts fail with LocalResourceError before succeeding."""
    block: asyncio.Event | None = None
    """When set, attempts wait for it (to test cancellation)."""

    def now(self) -> float:
        return self.clock

    async def sleep(self, seconds: float) -> None:
        self.clock += seconds
        await asyncio.sleep(0)

    async def resolve(self, name: str, family: int) -> list[str]:
        self.resolve_calls.append(name)
        await asyncio.sleep(0)
        if name not in self.names:
            raise OSError(-2, "Name or service not known")
        return self.names[name]

    async def _attempt(self, address: str, port: int, wait: float) -> Outcome:
        if self.resource_errors:
            self.resource_errors -= 1
            raise LocalResourceError(24, "Too many open files")
        self.calls.append((address, port, wait))
        self.in_flight[address] += 1
        self.total_in_flight += 1
        self.max_in_flight[address] = max(self.max_in_flight[address], self.in_flight[address])
        self.max_total_in_flight = max(self.max_total_in_flight, self.total_in_flight)
        try:
            await asyncio.sleep(0)
            if self.block is not None:
                await self.block.wait()
            outcomes = self.script.get((address, port), [SILENT])
            tries = sum(1 for a, p, _ in self.calls if (a, p) == (address, port))
            outcome = outcomes[min(tries, len(outcomes)) - 1]
            if outcome.silent:
                self.clock += wait
            return outcome
        finally:
            self.in_flight[address] -= 1
            self.total_in_flight -= 1

    async def tcp_attempt(self, address: str, port: int, timeout: float) -> Outcome:
        return await self._attempt(address, port, timeout)

    def open_udp(self, address: str, port: int) -> FakeUdp:
        self.sessions_open += 1
        return FakeUdp(self, address, port)


@dataclass
class FakeUdp:
    network: FakeNetwork
    address: str
    port: int
    payloads: list[bytes] = field(default_factory=list)

    async def attempt(self, payload: bytes, timeout: float) -> Outcome:
        self.payloads.append(payload)
        return await self.network._attempt(self.address, self.port, timeout)

    def close(self) -> None:
        self.network.sessions_closed += 1
