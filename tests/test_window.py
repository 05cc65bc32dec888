"""The engine's adaptive window shrinks: when the event loop lags, and when the machine runs
out of sockets. (It grows back while the loop keeps up: see test_engine.py.)

Scripted network, virtual clock: every answer takes exactly its rtt, so the number of tries
in flight at each moment is exact."""

from __future__ import annotations

from sepcheck.drive import ResultSink
from sepcheck.engine import Engine, EngineSettings, RunStats
from sepcheck.engine.slots import HostSlots
from sepcheck.engine.window import IDLE_TO_GROW, LAG_FLOOR, LAG_HIGH, LAG_LOW, Window
from sepcheck.net.outcome import Outcome, Seen
from sepcheck.results import ProbeResult, State
from tests.fakes import OPEN, FakeNetwork, busy, run_virtual
from tests.test_engine import PAYLOADS, probe, run

FAST = Outcome(Seen.OPEN, "syn-ack", None, 0.001)
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
    # The first try found no socket: the window halves at once (8 -> 4), so the same
    # burst admits only 3 more probes besides the one waiting 10 ms to try again.
    assert max(first) == 3
    assert later
    assert max(later) <= 8 // 2


def test_a_lagging_loop_halves_the_window_down_to_64() -> None:
    """Each result costs the loop 2 ms of CPU: 512 answers arriving together keep it busy
    for a second, so the heartbeat runs late. Each late heartbeat halves the window, down
    to 64, and the number of tries in flight follows."""
    addresses = _addresses(3000)
    net = FakeNetwork(script={(a, 1): [OPEN] for a in addresses})
    engine = Engine(
        net, PAYLOADS.datagram, EngineSettings(rate=0, concurrency=512, initial_window=512)
    )
    results: list[ProbeResult] = []

    def sink(result: ProbeResult) -> None:
        results.append(result)
        busy(0.002)

    async def main() -> RunStats:
        return await engine.run([probe(a, 1) for a in addresses], ResultSink(sink))

    stats, elapsed = run_virtual(main)
    assert len(results) == 3000
    assert stats.windows == (512, 256, 128, 64)  # halved at each late beat
    assert stats.peak_window == 512  # a lagging loop never grows it
    # In the second half of the run, the tries in flight stay within the shrunken window.
    late = [n for t, n in net.load if t > elapsed / 2]
    assert late
    assert max(late) <= 64


def test_the_lag_shrink_stops_at_64() -> None:
    """Lag alone never takes the window below 64 probes: a slow loop still probes."""
    addresses = _addresses(600)
    net = FakeNetwork(script={(a, 1): [OPEN] for a in addresses})
    engine = Engine(
        net, PAYLOADS.datagram, EngineSettings(rate=0, concurrency=128, initial_window=128)
    )

    async def main() -> RunStats:
        return await engine.run([probe(a, 1) for a in addresses], ResultSink(lambda r: busy(0.05)))

    stats, _ = run_virtual(main)
    assert stats.windows[-1] == 64
    assert max(n for _, n in net.load) == 128


def test_each_socket_shortage_halves_the_window_again() -> None:
    addresses = _addresses(4)
    net = FakeNetwork(script={(a, 1): [FAST] for a in addresses}, resource_errors=3)
    engine = Engine(net, PAYLOADS.datagram, EngineSettings(rate=0, concurrency=8, initial_window=8))

    async def main() -> RunStats:
        return await engine.run([probe(a, 1) for a in addresses], ResultSink(lambda r: None))

    stats, elapsed = run_virtual(main)
    assert elapsed < 0.05  # no heartbeat yet
    assert stats.windows == (8, 4, 2, 1)


# -- the window and the per-host slots as pure units -------------------------------------


def test_window_starts_within_its_limit() -> None:
    assert Window(512, 100).size == 100
    assert Window(0, 100).size == 1


def test_window_grows_only_when_in_full_use_and_the_loop_keeps_up() -> None:
    window = Window(64, 1000)
    window.beat(0.0, 10, 1.0)  # not in full use: no reason to grow
    assert window.size == 64
    window.beat(LAG_LOW, 64, 1.0)  # in full use, but the loop is not quite keeping up
    assert window.size == 64
    window.beat(0.0, 64, IDLE_TO_GROW - 0.01)  # busy nearly all the time: the loop is the limit
    assert window.size == 64
    window.beat(0.0, 64, IDLE_TO_GROW)
    assert window.size == 128  # grows by at least 64
    window.beat(0.0, 128, 1.0)
    assert window.size == 192
    big = Window(900, 1000)
    big.beat(0.0, 900, 1.0)
    assert big.size == 1000  # a quarter more, capped at the limit
    assert big.peak == 1000


def test_window_halves_on_lag_down_to_the_floor_and_keeps_its_history() -> None:
    window = Window(512, 512)
    for _ in range(5):
        window.beat(LAG_HIGH + 0.01, 0, 1.0)
    assert window.size == LAG_FLOOR
    assert window.history == [512, 256, 128, 64]
    assert window.peak == 512
    window.beat(LAG_HIGH, 0, 1.0)  # exactly at the threshold: no change
    assert window.size == LAG_FLOOR


def test_window_shortage_halves_down_to_one() -> None:
    window = Window(3, 8)
    window.shortage()
    assert window.size == 1
    window.shortage()
    assert window.size == 1


def test_host_slots_cap_each_address_and_hand_slots_on_in_order() -> None:
    slots: HostSlots[str] = HostSlots(2)
    assert slots.take("a", "a1")
    assert slots.take("a", "a2")
    assert not slots.take("a", "a3")
    assert not slots.take("a", "a4")
    assert slots.take("b", "b1")  # another address has its own slots
    assert slots.waiting() == 2
    assert slots.release("a") == "a3"  # first in line, and the slot stays taken
    assert slots.release("a") == "a4"
    assert slots.release("a") is None
    assert slots.load == {"a": 1, "b": 1}
    assert slots.release("a") is None
    assert slots.release("b") is None
    assert slots.load == {}
    assert slots.queues == {}
