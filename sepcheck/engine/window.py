"""The adaptive concurrency window: how many probes may be in flight right now.

It grows while it is what limits the run: in full use, with the event loop keeping up
(little lag) and spending part of its time waiting for the network. It halves when the
loop lags (down to a floor: a slow loop still probes), and when this host runs out of
sockets (down to 1). Lag never changes a verdict (tries read the kernel's state when their
deadline passes), it only delays timers, so some lag is tolerated to keep the CPU busy.

Why the waiting: a loop that is busy all the time would not go faster with more probes in
flight; the window then grew to its limit on a fast network, and the run was 9% slower
(more sockets for the kernel, no more answers per second). Counting only the probes still
unanswered instead stopped growth on networks of 20 ms or more, where answers trickle in
between ticks and the window must grow (a reviewer measured runs 1.5 to 5.7 times slower).
"""

from __future__ import annotations

LAG_LOW, LAG_HIGH = 0.05, 0.25
"""Seconds of heartbeat lag: below the first, a window in full use may grow; above the
second, it halves."""
IDLE_TO_GROW = 0.2
"""Share of a heartbeat's interval the loop must have spent waiting for a full window to
grow: below it the loop, not the network, sets the pace."""
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

    def beat(self, lag: float, in_flight: int, idle: float) -> None:
        """A heartbeat ran ``lag`` seconds late with ``in_flight`` probes in flight, the
        loop having waited for the network ``idle`` of the time since the last one (0 to
        1)."""
        if lag > LAG_HIGH:
            # The loop cannot keep up: fewer probes in flight until it can.
            self._set(max(LAG_FLOOR, self.size // 2))
        elif lag < LAG_LOW and in_flight >= self.size and idle >= IDLE_TO_GROW:
            self._set(min(self.limit, self.size + max(64, self.size // 4)))

    def shortage(self) -> None:
        """A try found no free socket: others will free theirs; narrow the window so the
        shortage is not met again at once."""
        self._set(max(1, self.size // 2))
