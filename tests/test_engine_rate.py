"""Under a rate limit the engine finishes what it started before it starts more, so results
flow at the rate from the first seconds and an interrupted run keeps them."""

from __future__ import annotations

import asyncio
import contextlib

from sepcheck.drive import ResultSink
from sepcheck.engine import Engine, EngineSettings
from sepcheck.payloads import load_payloads
from sepcheck.results import ProbeResult, State
from sepcheck.timing import TimingSettings
from tests.fakes import FakeNetwork, run_virtual
from tests.test_engine import probe

RATE = 200.0


def _interrupted_run(
    net: FakeNetwork, count: int, stop_after: float
) -> list[tuple[float, ProbeResult]]:
    settings = EngineSettings(
        concurrency=4096,
        initial_window=4096,
        rate=RATE,
        timing=TimingSettings(initial_timeout=0.5, max_timeout=0.5, retries=1, max_retries=1),
    )
    engine = Engine(net, load_payloads().datagram, settings)
    probes = [probe(f"198.18.{i // 250}.{i % 250 + 1}", 443) for i in range(count)]
    seen: list[tuple[float, ProbeResult]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(
            engine.run(probes, ResultSink(lambda r: seen.append((loop.time(), r))))
        )
        await asyncio.sleep(stop_after)
        task.cancel()  # what SIGTERM does to a run
        with contextlib.suppress(asyncio.CancelledError):
            await task

    run_virtual(main)
    return seen


def test_a_rate_limited_run_finishes_probes_from_the_start() -> None:
    seen = _interrupted_run(FakeNetwork(), count=8000, stop_after=6.0)
    # Every probe is silent: two tries, one send slot each, 200 slots a second. Before the
    # fix the 4,096 first tries took every slot for 20 s and nothing finished in 6 s.
    assert seen, "nothing finished before the interrupt"
    first = seen[0][0]
    assert first < 1.5
    assert len(seen) >= 0.8 * (6.0 - first) * RATE / 2
    assert all(r.state is State.FILTERED and r.attempts == 2 for _, r in seen)


def test_the_rate_is_kept() -> None:
    net = FakeNetwork()
    _interrupted_run(net, count=3000, stop_after=5.0)
    sends = [t for _, _, t in net.calls]
    # Never more than the burst above the rate, in any second of the run.
    for second in range(1, 5):
        in_second = sum(1 for t in sends if second - 1 <= t < second)
        assert in_second <= RATE + RATE / 50 + 1, (second, in_second)


def test_a_small_run_assumes_loss_until_the_path_proves_clean() -> None:
    """5% loss each way: a try is lost 9.75% of the time; a probe to an open port must be
    misread (every try lost) with a chance under 1 in 100,000: 5 tries."""
    from sepcheck.timing import Timing, TimingSettings

    small = Timing(TimingSettings(assume_loss=True))
    assert small.allowed_retries() == 4
    assert 0.0975**5 < 1e-5 < 0.0975**4
    # Twenty clean answers prove the path: back to nmap's rule.
    for _ in range(20):
        small.observe("198.18.2.2", 0.001, 0)
    assert small.allowed_retries() == 1
    # A large run starts from nmap's rule and learns loss from its own answers.
    assert Timing(TimingSettings()).allowed_retries() == 1
