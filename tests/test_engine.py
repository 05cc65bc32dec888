"""Engine logic on a scripted network and a virtual clock: timing, retries, limits,
name resolution and cancellation. Truth about real networks is in tests/lab/."""

from __future__ import annotations

import asyncio

import pytest

from sepcheck.engine import Engine, EngineSettings
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.payloads import load_payloads
from sepcheck.plan import Probe
from sepcheck.results import SILENT, Outcome, ProbeResult, State
from sepcheck.timing import RateLimiter, Timing, TimingSettings
from tests.fakes import OPEN, REFUSED, UDP_REPLY, FakeNetwork

PAYLOADS = load_payloads()


def probe(address: str | None, port: int, protocol: str = "tcp", host: str | None = None) -> Probe:
    return Probe(
        flow=f"client-manager-{port}",
        source=Role.CLIENT,
        destination=Role.MANAGER,
        host=host or address or "?",
        address=address,
        spec=host or address or "?",
        protocol=Protocol(protocol),
        port=port,
        expect=Expect.REACHABLE,
        severity=Severity.FAIL,
    )


def run(net: FakeNetwork, probes: list[Probe], **settings: object) -> list[ProbeResult]:
    engine = Engine(net, PAYLOADS, EngineSettings(rate=0, **settings))  # type: ignore[arg-type]
    results: list[ProbeResult] = []
    asyncio.run(engine.run(probes, results.append))
    return results


def test_open_refused_and_silent() -> None:
    net = FakeNetwork(script={("198.18.2.2", 1): [OPEN], ("198.18.2.2", 2): [REFUSED]})
    results = {r.probe.port: r for r in run(net, [probe("198.18.2.2", p) for p in (1, 2, 3)])}
    assert results[1].state is State.OPEN
    assert results[1].attempts == 1
    assert results[1].rtt_ms == 10.0
    assert results[2].state is State.REFUSED
    assert results[2].detail == "conn-refused"
    assert results[3].state is State.FILTERED
    assert results[3].reason == "no-response"
    assert results[3].attempts == 2  # one retry by default
    assert results[3].detail == "no-response after 2 tries"
    assert results[3].rtt_ms is None


def test_udp_silence_is_open_filtered_and_payload_is_the_protocol_one() -> None:
    net = FakeNetwork(script={("198.18.2.2", 514): [SILENT], ("198.18.2.2", 137): [UDP_REPLY]})
    sessions: list[object] = []
    original = net.open_udp

    def spy(address: str, port: int):  # type: ignore[no-untyped-def]
        session = original(address, port)
        sessions.append(session)
        return session

    net.open_udp = spy  # type: ignore[method-assign]
    results = {
        r.probe.port: r
        for r in run(net, [probe("198.18.2.2", 514, "udp"), probe("198.18.2.2", 137, "udp")])
    }
    assert results[514].state is State.OPEN_FILTERED
    assert results[514].attempts == 2
    assert results[137].state is State.OPEN
    by_port = {s.port: s for s in sessions}  # type: ignore[attr-defined]
    assert by_port[137].payloads[0].startswith(b"\x80\xf0\x00\x10")  # NBSTAT
    assert b"sepcheck" in by_port[514].payloads[0]
    assert len(by_port[514].payloads) == 2  # the retry reuses the same socket
    assert net.sessions_open == net.sessions_closed == 2


def test_timeouts_follow_the_measured_rtt() -> None:
    # The first probe answers in 10 ms; later silent probes to that host wait
    # srtt + 4*rttvar = 10 + 4*5 = 30 ms, clamped up to the 100 ms minimum.
    net = FakeNetwork(script={("198.18.2.2", 1): [OPEN]})
    run(net, [probe("198.18.2.2", 1), probe("198.18.2.2", 2)], concurrency=1)
    waits = [w for a, p, w in net.calls if p == 2]
    assert waits == [0.1, 0.1]
    # A host never heard from uses the run-wide estimate, not the initial second.
    net2 = FakeNetwork(script={("198.18.2.2", 1): [OPEN]})
    run(net2, [probe("198.18.2.2", 1), probe("198.18.2.9", 2)], concurrency=1)
    assert [w for a, p, w in net2.calls if a == "198.18.2.9"] == [0.1, 0.1]
    # Before any answer, the initial timeout applies.
    net3 = FakeNetwork()
    run(net3, [probe("198.18.2.2", 2)], concurrency=1)
    assert net3.calls[0][2] == 1.0


def test_timing_estimator_clamps() -> None:
    timing = Timing(TimingSettings(min_timeout=0.1, max_timeout=1.5))
    timing.observe("a", 2.0, 0)
    assert timing.timeout_for("a") == 1.5
    timing.observe("b", 0.2, 0)
    assert timing.timeout_for("b") == pytest.approx(0.6)  # 0.2 + 4 * 0.1


def test_more_retries_once_answers_come_late() -> None:
    # Port 1 answers only on the third try: the network loses packets, so later silent
    # probes get more tries (nmap's max_successful_tryno rule), up to max_retries.
    late = [SILENT, SILENT, OPEN]
    net = FakeNetwork(script={("198.18.2.2", 1): late})
    results = run(
        net,
        [probe("198.18.2.2", 1), probe("198.18.2.2", 2)],
        concurrency=1,
        timing=TimingSettings(retries=2, max_retries=6),
    )
    by_port = {r.probe.port: r for r in results}
    assert by_port[1].state is State.OPEN
    assert by_port[1].attempts == 3
    assert by_port[2].attempts == 4  # retries raised from 2 to 3


def test_retries_zero_means_one_try() -> None:
    net = FakeNetwork()
    (result,) = run(net, [probe("198.18.2.2", 9)], timing=TimingSettings(retries=0, max_retries=0))
    assert result.attempts == 1
    assert result.detail == "no-response after 1 try"


def test_per_host_and_global_caps() -> None:
    net = FakeNetwork(script={})
    probes = [probe("198.18.2.2", p) for p in range(1, 41)] + [
        probe(f"198.18.3.{i}", 1) for i in range(1, 41)
    ]
    results = run(net, probes, concurrency=16, per_host=4)
    assert len(results) == 80
    assert net.max_in_flight["198.18.2.2"] <= 4
    assert net.max_total_in_flight <= 16
    assert net.max_total_in_flight >= 8  # the limits are not a queue of one


def test_names_resolve_once_and_unresolved_is_a_result() -> None:
    net = FakeNetwork(
        names={"sepm.lab.test": ["198.18.2.2"]}, script={("198.18.2.2", 8014): [OPEN]}
    )
    probes = [
        probe(None, 8014, host="sepm.lab.test"),
        probe(None, 443, host="sepm.lab.test"),
        probe(None, 8014, host="nowhere.lab.test"),
    ]
    results = {(r.probe.host, r.probe.port): r for r in run(net, probes)}
    assert net.resolve_calls.count("sepm.lab.test") == 1
    assert results[("sepm.lab.test", 8014)].address == "198.18.2.2"
    assert results[("sepm.lab.test", 8014)].state is State.OPEN
    missing = results[("nowhere.lab.test", 8014)]
    assert missing.state is State.UNRESOLVED
    assert missing.address is None
    assert "Name or service not known" in missing.detail


def test_out_of_sockets_waits_instead_of_failing() -> None:
    net = FakeNetwork(script={("198.18.2.2", 1): [OPEN]}, resource_errors=5)
    (result,) = run(net, [probe("198.18.2.2", 1)])
    assert result.state is State.OPEN
    assert net.clock > 0  # it backed off on the virtual clock


def test_rate_limiter_paces_on_the_virtual_clock() -> None:
    net = FakeNetwork()
    limiter = RateLimiter(100, net.now, net.sleep, burst=1)

    async def take(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()

    asyncio.run(take(51))
    assert net.clock == pytest.approx(0.5)


def test_engine_applies_the_rate() -> None:
    net = FakeNetwork(script={("198.18.2.2", p): [OPEN] for p in range(1, 201)})
    engine = Engine(net, PAYLOADS, EngineSettings(rate=1000, concurrency=8))
    asyncio.run(engine.run([probe("198.18.2.2", p) for p in range(1, 201)], lambda r: None))
    # 200 sends at 1,000/s with a burst of 20: at least 0.18 s of virtual time.
    assert net.clock >= 0.18


def test_cancel_stops_workers_and_closes_udp_sockets() -> None:
    net = FakeNetwork(block=asyncio.Event())
    results: list[ProbeResult] = []

    async def main() -> None:
        engine = Engine(net, PAYLOADS, EngineSettings(rate=0, concurrency=4))
        task = asyncio.create_task(
            engine.run([probe(f"198.18.2.{i}", 137, "udp") for i in range(1, 50)], results.append)
        )
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert results == []
    assert net.sessions_open == 4
    assert net.sessions_closed == 4


def test_local_error_outcomes_are_not_retried() -> None:
    unreachable = Outcome(State.FILTERED, "net-unreach", "198.18.1.1", 0.001)
    net = FakeNetwork(script={("198.18.200.1", 1): [unreachable]})
    (result,) = run(net, [probe("198.18.200.1", 1)])
    assert result.attempts == 1
    assert result.detail == "net-unreach by 198.18.1.1"
    assert result.reply_from == "198.18.1.1"


def test_kernel_rtts_outrank_loop_measured_ones() -> None:
    # Loop-measured RTTs include the prober's own lag: once the kernel's measure is
    # known, they no longer stretch the timeouts.
    timing = Timing(TimingSettings(min_timeout=0.001, max_timeout=5))
    timing.observe("a", 0.4, 0)
    assert timing.timeout_for("a") == pytest.approx(0.4 + 4 * 0.2)
    timing.observe("a", 0.002, 0, exact=True)
    timing.observe("a", 0.5, 0)  # a lagging loop's sample: ignored
    assert timing.timeout_for("a") == pytest.approx(0.002 + 4 * 0.001)
