"""The responder's bounds, with a clock the tests move: token buckets, the per-source
limiter and its table, the connection slots, the nonce memory's size and age."""

from __future__ import annotations

from sepcheck.listen.limits import (
    ConnectionSlots,
    Limits,
    NonceMemory,
    RateLimiter,
    Sighting,
    TokenBucket,
)
from sepcheck.net.beacon import Endpoint

SOURCE = Endpoint("198.18.1.2", 40112)


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=20, burst=40, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(100)) == 40
    assert sum(bucket.take(1.0) for _ in range(100)) == 20
    assert sum(bucket.take(100.0) for _ in range(100)) == 40  # never more than the burst


def test_each_source_has_its_own_bucket_and_all_share_one() -> None:
    limiter = RateLimiter(Limits(source_burst=2, source_rate=0.001, global_burst=5), 0.0)
    assert [limiter.allow("a", 0.0) for _ in range(3)] == [True, True, False]
    assert [limiter.allow("b", 0.0) for _ in range(3)] == [True, True, False]
    # 4 of the 5 global tokens are spent; a refused source spent none of them.
    assert [limiter.allow("c", 0.0) for _ in range(2)] == [True, False]


def test_the_table_of_sources_is_bounded() -> None:
    limiter = RateLimiter(Limits(sources=100, global_burst=1e9), 0.0)
    for i in range(10_000):
        limiter.allow(f"198.18.{i // 256}.{i % 256}", 0.0)
    assert len(limiter) == 100


def test_slots() -> None:
    slots = ConnectionSlots(2)
    assert [slots.acquire() for _ in range(3)] == [True, True, False]
    slots.release()
    assert slots.acquire()


def test_the_nonce_memory_keeps_the_newest_and_forgets_the_old() -> None:
    memory = NonceMemory(size=100, ttl=600.0)
    for i in range(10_000):
        memory.remember(i.to_bytes(16, "big"), Sighting(SOURCE, 514, float(i) / 100))
    assert len(memory) == 100
    assert memory.find((0).to_bytes(16, "big"), 100.0) is None
    newest = memory.find((9_999).to_bytes(16, "big"), 100.0)
    assert newest is not None
    assert newest.source == SOURCE
    assert memory.find((9_999).to_bytes(16, "big"), 100.0 + 601.0) is None
    assert len(memory) == 0
