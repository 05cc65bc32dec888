"""Trace logic on a scripted path: which hops are probed, when it stops, what it concludes.
The real thing runs in the lab (tests/lab/test_raw.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from sepcheck.model import Protocol
from sepcheck.net.outcome import SILENT, Outcome, Seen
from sepcheck.net.protocols import Channel
from sepcheck.trace import TraceSettings, TraceTarget, trace
from tests.fakes import run_virtual

DEST = "198.18.2.2"
ROUTER = "198.18.1.1"


class _Try:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def expire(self) -> Outcome:
        return SILENT

    def abort(self) -> None:
        pass


class ScriptedPath:
    """A backend (net.protocols.Backend) that answers a probe by its TTL: ``answer(ttl)``
    is an Outcome, or None for silence. TCP only."""

    name = "scripted"

    def __init__(self, answer: Callable[[int], Outcome | None]) -> None:
        self.answer = answer
        self.sent: list[int] = []
        self.times: list[float] = []

    async def resolve(self, name: str, family: int) -> list[str]:
        raise AssertionError("a trace's targets carry their address")

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> Channel:
        raise AssertionError("TCP only")

    def close(self) -> None:
        pass

    def start_tcp(
        self, address: str, port: int, done: Callable[[Outcome], None], ttl: int | None = None
    ) -> _Try:
        assert ttl is not None
        self.sent.append(ttl)
        self.times.append(asyncio.get_running_loop().time())
        outcome = self.answer(ttl)
        if outcome is not None:
            asyncio.get_running_loop().call_later(0.001, done, outcome)
        return _Try(outcome or SILENT)


def run(path: ScriptedPath, **settings: Any) -> Any:
    target = TraceTarget(DEST, DEST, Protocol.TCP, 8014)
    quick = TraceSettings(timeout=0.02, **settings)
    return asyncio.run(trace(path, target, quick))


def exceeded(hop: str) -> Outcome:
    return Outcome(Seen.FILTERED, "time-exceeded", hop, 0.001, ttl=64)


def test_open_path_reaches_the_destination() -> None:
    path = ScriptedPath(
        lambda ttl: exceeded(ROUTER) if ttl == 1 else Outcome(Seen.OPEN, "syn-ack", DEST, ttl=63)
    )
    report = run(path)
    assert report.reached
    assert report.outcome == "reached"
    assert [h.ttl for h in report.hops] == [1, 2]
    assert report.last_passed.reply_from == ROUTER
    assert report.summary.startswith("tcp/8014 reaches 198.18.2.2 at hop 2: open")
    assert path.sent == list(range(1, 9))  # one batch of 8, each answered at once


def test_silent_drop_names_the_last_hop_passed_and_stops_after_the_gap() -> None:
    path = ScriptedPath(lambda ttl: exceeded(ROUTER) if ttl == 1 else None)
    report = run(path, tries=2, gap=3, batch=4)
    assert not report.reached
    assert report.outcome == "dropped"
    assert report.dies_after_ttl == 1
    assert report.last_passed.reply_from == ROUTER
    assert [h.ttl for h in report.hops] == [1, 2, 3, 4]  # the answer and 3 silent hops
    assert all(h.probes == 2 for h in report.hops[1:])
    assert path.sent.count(4) == 2
    assert 5 not in path.sent
    assert "dies after hop 1 (198.18.1.1): no answer from hop 2 on" in report.summary


def test_admin_prohibited_names_the_router() -> None:
    prohibited = Outcome(Seen.FILTERED, "admin-prohibited", ROUTER, ttl=64)
    path = ScriptedPath(lambda ttl: exceeded(ROUTER) if ttl == 1 else prohibited)
    report = run(path)
    assert report.outcome == "blocked"
    assert report.dies_at.ttl == 2
    assert report.dies_at.reply_from == ROUTER
    assert "dies at 198.18.1.1 (hop 1): admin-prohibited by 198.18.1.1" in report.summary


def test_forged_reset_is_placed_by_its_ttl() -> None:
    # Hop 1 and 2 are routers; the reset claims the destination's address but its TTL
    # (63: one router crossed) puts its sender at hop 2.
    second = "198.18.3.1"
    forged = Outcome(Seen.REFUSED, "forged-reset", DEST, ttl=63, note="reset forged by ...")
    path = ScriptedPath(
        lambda ttl: exceeded(ROUTER) if ttl == 1 else exceeded(second) if ttl == 2 else forged
    )
    report = run(path)
    assert report.outcome == "blocked"
    assert not report.reached
    assert report.summary.startswith(f"tcp/8014 dies at {second} (hop 2)")


def test_nothing_answers() -> None:
    path = ScriptedPath(lambda ttl: None)
    report = run(path, tries=1, batch=8)
    assert report.outcome == "dropped"
    assert report.last_passed is None
    assert report.dies_after_ttl == 0
    assert "dies before the first hop" in report.summary
    assert len(report.hops) == 3  # trimmed to the gap


@pytest.mark.parametrize("max_hops", [1, 5])
def test_max_hops_bounds_the_probes(max_hops: int) -> None:
    path = ScriptedPath(lambda ttl: exceeded(f"198.18.9.{ttl}"))
    report = run(path, max_hops=max_hops)
    assert max(path.sent) == max_hops
    assert report.outcome == "max-hops"
    assert report.last_passed.ttl == max_hops
    assert report.dies_after_ttl is None
    assert f"still on its way after {max_hops} hops" in report.summary


def test_hops_go_through_the_engines_rate_limit() -> None:
    """A trace sends through the same engine as check: --rate paces its probes too (it
    used to send a whole batch at once, whatever the limit)."""
    target = TraceTarget(DEST, DEST, Protocol.TCP, 8014)

    def answer(ttl: int) -> Outcome:
        return exceeded(ROUTER) if ttl < 8 else Outcome(Seen.OPEN, "syn-ack", DEST, ttl=57)

    limited = ScriptedPath(answer)
    report, _ = run_virtual(lambda: trace(limited, target, TraceSettings(timeout=0.5, rate=100)))
    assert report.reached
    assert limited.sent == list(range(1, 9))
    # 100 per second in bursts of 2: the 8th probe leaves 60 ms after the first.
    assert limited.times[-1] - limited.times[0] == pytest.approx(0.06, abs=0.011)
    free = ScriptedPath(answer)
    run_virtual(lambda: trace(free, target, TraceSettings(timeout=0.5, rate=0)))
    assert free.times[-1] == free.times[0]


def test_a_hops_tries_are_the_engines_retries_with_a_fixed_timeout() -> None:
    """tries=3: a silent hop is probed three times, each try waiting the full timeout (no
    adaptive shortening: far hops answer later than near ones)."""
    target = TraceTarget(DEST, DEST, Protocol.TCP, 8014)
    path = ScriptedPath(lambda ttl: exceeded(ROUTER) if ttl == 1 else None)
    settings = TraceSettings(timeout=0.4, tries=3, batch=2, gap=1, rate=0)
    report, elapsed = run_virtual(lambda: trace(path, target, settings))
    assert [h.probes for h in report.hops] == [1, 3]
    assert path.sent == [1, 2, 2, 2]
    assert elapsed == pytest.approx(3 * 0.4, abs=0.01)
