"""The engine's adaptive window shrinks: when the event loop lags, and when the machine runs
out of sockets. (It grows back while the loop keeps up: see test_engine.py.)

Scripted network, virtual clock: every answer takes exactly its rtt, so the number of tries
in flight at each moment is exact."""

from __future__ import annotations

from sepcheck.engine import Engine, EngineSettings
from sepcheck.results import Outcome, ProbeResult, State
from tests.fakes import OPEN, FakeNetwork, busy, run_virtual
from tests.test_engine import PAYLOADS, probe, run

FAST = Outcome(State.OPEN, "syn-ack", None, 0.001)
"""An answer after 1 ms."""


def _addresses(count: int) -> list[str]:
    return [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(count)]


def test_out_of_sockets_halves_the_window() -> None:
    """A try that finds no free socket halves the window: the probes that start after it
    are at most half as many in flight, so the socket shortage is not met again at once."""
    addresses = _addresses(16)
    net = FakeNetwork(script={(a, 1): [FAST] for a in addresses}, resource_errors=1)
    results, elapsed = run(net, [probe(a, 1) for a in addresses], concurrency=8, initial_window=8)
    assert sorted(r.state for r in results) == [State.OPEN] * 16
    # The whole run fits before the first heartbeat (50 ms), which could grow the window
    # back: what is measured is the shrink alone.
    assert elapsed < 0.05
    first = [n for t, n in net.load if t == 0]
    later = [n for t, n in net.load if t > 0]
    assert max(first) == 7  # the eighth try found no socket; it waits 10 ms and retries
    assert later
    assert max(later) <= 8 // 2


def test_a_lagging_loop_halves_the_window_down_to_64() -> None:
    """Each result costs the loop 2 ms of CPU: 512 answers arriving together keep it busy
    for a second, so the heartbeat runs late. Each late heartbeat halves the window, down
    to 64, and the number of tries in flight follows."""
    addresses = _addresses(3000)
    net = FakeNetwork(script={(a, 1): [OPEN] for a in addresses})
    engine = Engine(net, PAYLOADS, EngineSettings(rate=0, concurrency=512, initial_window=512))
    windows: list[int] = []

    def sink(result: ProbeResult) -> None:
        windows.append(engine.window)
        busy(0.002)

    async def main() -> None:
        await engine.run([probe(a, 1) for a in addresses], sink)

    _, elapsed = run_virtual(main)
    assert len(windows) == 3000
    assert list(dict.fromkeys(windows)) == [512, 256, 128, 64]  # halved at each late beat
    assert engine.window == 64
    assert engine.peak_window == 512  # a lagging loop never grows it
    # In the second half of the run, the tries in flight stay within the shrunken window.
    late = [n for t, n in net.load if t > elapsed / 2]
    assert late
    assert max(late) <= 64


def test_the_lag_shrink_stops_at_64() -> None:
    """Lag alone never takes the window below 64 probes: a slow loop still probes."""
    addresses = _addresses(600)
    net = FakeNetwork(script={(a, 1): [OPEN] for a in addresses})
    engine = Engine(net, PAYLOADS, EngineSettings(rate=0, concurrency=128, initial_window=128))

    async def main() -> None:
        await engine.run([probe(a, 1) for a in addresses], lambda r: busy(0.05))

    run_virtual(main)
    assert engine.window == 64
    assert max(n for _, n in net.load) == 128


def test_each_socket_shortage_halves_the_window_again() -> None:
    addresses = _addresses(4)
    net = FakeNetwork(script={(a, 1): [FAST] for a in addresses}, resource_errors=3)
    engine = Engine(net, PAYLOADS, EngineSettings(rate=0, concurrency=8, initial_window=8))

    async def main() -> None:
        await engine.run([probe(a, 1) for a in addresses], lambda r: None)

    _, elapsed = run_virtual(main)
    assert elapsed < 0.05  # no heartbeat yet
    assert engine.window == 1  # 8 -> 4 -> 2 -> 1
