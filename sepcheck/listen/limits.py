"""What keeps a responder on a production network harmless under load: token buckets
(per source and for the whole responder), a cap on concurrent TCP connections, and a
bounded memory of the UDP probes received. Pure values and counters: the clock is passed
in, so the tests need no sleeping."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from sepcheck.net.beacon import Endpoint


@dataclass(frozen=True)
class Limits:
    """The responder's bounds (the defaults are those of `sepcheck listen`)."""

    source_rate: float = 20.0
    """Token messages answered per second to one source address..."""
    source_burst: float = 40.0
    """...after a burst of this many (a whole check's UDP probes at once)."""
    global_rate: float = 1000.0
    global_burst: float = 2000.0
    sources: int = 4096
    """Source addresses whose buckets are kept (least recently seen forgotten first)."""
    connections: int = 256
    """Concurrent TCP connections; one more is closed at once."""
    timeout: float = 2.0
    """Longest life of one TCP connection, seconds."""
    nonces: int = 4096
    """UDP probes remembered for queries..."""
    nonce_ttl: float = 600.0
    """...for at most this many seconds."""
    events: int = 10_000
    """Events kept for the report; the rest are only counted."""


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; each message takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RateLimiter:
    """A bucket per source address (at most ``limits.sources`` of them) and one for all."""

    def __init__(self, limits: Limits, now: float) -> None:
        self._limits = limits
        self._global = TokenBucket(limits.global_rate, limits.global_burst, now)
        self._sources: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, source: str, now: float) -> bool:
        bucket = self._sources.get(source)
        if bucket is None:
            bucket = TokenBucket(self._limits.source_rate, self._limits.source_burst, now)
            self._sources[source] = bucket
            if len(self._sources) > self._limits.sources:
                # Forgetting a source refills its bucket; the global bucket still holds.
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(source)
        # A source over its own limit does not spend the others' share.
        return bucket.take(now) and self._global.take(now)

    def __len__(self) -> int:
        return len(self._sources)


class ConnectionSlots:
    """At most ``limit`` TCP connections at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1


@dataclass(frozen=True)
class Sighting:
    """A probe received: from where, on which port, when (monotonic seconds)."""

    source: Endpoint
    port: int
    time: float


class NonceMemory:
    """The probes received lately (TCP and UDP), by nonce: at most ``size``, none older
    than ``ttl`` seconds, so a flood of probes (even with the token) cannot grow memory."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._seen: OrderedDict[bytes, Sighting] = OrderedDict()

    def remember(self, nonce: bytes, sighting: Sighting) -> None:
        self._seen[nonce] = sighting
        self._seen.move_to_end(nonce)
        self._expire(sighting.time)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def find(self, nonce: bytes, now: float) -> Sighting | None:
        self._expire(now)
        return self._seen.get(nonce)

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if now - oldest.time <= self.ttl:
                return
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)
