"""Per-destination slots: at most ``per_host`` probes in flight toward one address; the
others wait in that address's line, and a finishing probe hands its slot straight on."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

P = TypeVar("P")


class HostSlots(Generic[P]):
    __slots__ = ("load", "per_host", "queues")

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self.load: dict[str, int] = {}
        self.queues: dict[str, deque[P]] = {}

    def take(self, address: str, probe: P) -> bool:
        """True: ``probe`` holds a slot now. False: it waits in the address's line."""
        load = self.load.get(address, 0)
        if load >= self.per_host:
            self.queues.setdefault(address, deque()).append(probe)
            return False
        self.load[address] = load + 1
        return True

    def release(self, address: str) -> P | None:
        """A probe to ``address`` finished: the next one waiting gets its slot (returned),
        or the slot is freed (None)."""
        queued = self.queues.get(address)
        if queued:
            successor = queued.popleft()
            if not queued:
                del self.queues[address]
            return successor
        load = self.load[address] - 1
        if load:
            self.load[address] = load
        else:
            del self.load[address]
        return None

    def waiting(self) -> int:
        return sum(len(q) for q in self.queues.values())
