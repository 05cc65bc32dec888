"""The adaptive concurrency window: how many probes may be in flight right now.

It grows while the event loop keeps up and the window is in full use (of probes still
waiting on the network: the engine takes the answers that came before it asks), halves
when the loop lags (down to a floor: a slow loop still probes), and halves when this host
runs out of sockets (down to 1). Lag never changes a verdict (tries read the kernel's state when their
deadline passes), it only delays timers, so some lag is tolerated to keep the CPU busy.
"""

from __future__ import annotations

LAG_LOW, LAG_HIGH = 0.05, 0.25
"""Seconds of heartbeat lag: below the first, a window in full use may grow; above the
second, it halves."""
LAG_FLOOR = 64
"""Lag alone never takes the window below this."""


class Window:
    """Pure state: fed with lag measurements and socket shortages, it says the size."""

    __slots__ = ("history", "limit", "size")

    def __init__(self, initial: int, limit: int) -> None:
        self.limit = max(1, limit)
        self.size = max(1, min(initial, self.limit))
        self.history = [self.size]
        """Every size the window took, in order (for the run's statistics and tests)."""

    def _set(self, size: int) -> None:
        if size != self.size:
            self.size = size
            self.history.append(size)

    @property
    def peak(self) -> int:
        """The largest size the window took."""
        return max(self.history)

    def beat(self, lag: float, in_flight: int) -> None:
        """A heartbeat ran ``lag`` seconds late with ``in_flight`` probes in flight."""
        if lag > LAG_HIGH:
            # The loop cannot keep up: fewer probes in flight until it can.
            self._set(max(LAG_FLOOR, self.size // 2))
        elif lag < LAG_LOW and in_flight >= self.size:
            self._set(min(self.limit, self.size + max(64, self.size // 4)))

    def shortage(self) -> None:
        """A try found no free socket: others will free theirs; narrow the window so the
        shortage is not met again at once."""
        self._set(max(1, self.size // 2))
