"""The benchmark's bookkeeping (bench/run.py), without a lab: what each tool got wrong, and
how many targets sepcheck and nmap classified differently."""

from __future__ import annotations

from typing import Any

import pytest

import bench.run as bench

WORK = bench.Workload("mini", 2, tcp=(139, 8014), udp=(514,))
HOSTS = ("198.19.0.1", "198.19.0.2")
TRUTH = {
    (host, proto, port): bench.truth(proto, port)
    for host in HOSTS
    for proto, port in (("tcp", 139), ("tcp", 8014), ("udp", 514))
}


def _run(tool: str, found: dict[tuple[str, str, int], str]) -> bench.ToolRun:
    return bench.compare(tool=tool, seconds=2.0, rss=10.0, found=found, work=WORK)


def test_compare_keeps_what_the_tool_reported() -> None:
    found = TRUTH | {("198.19.0.2", "tcp", 8014): "refused"}
    run = _run("nmap", found)
    assert run.by_target == found
    assert run.wrong == 1
    assert run.examples == ["198.19.0.2 tcp/8014: refused"]
    assert run.states == {"open": 2, "filtered": 1, "refused": 1, "open|filtered": 2}
    assert run.all_seconds == []  # filled by _median, never with states
    assert (run.seconds, run.peak_pss_mb) == (2.0, 10.0)


def test_disagreements_with_nmap_are_counted() -> None:
    ours = _run("sepcheck", dict(TRUTH))
    theirs_found = TRUTH | {("198.19.0.2", "tcp", 8014): "refused"}
    del theirs_found[("198.19.0.1", "udp", 514)]  # a target nmap did not report
    theirs = _run("nmap", theirs_found)
    assert ours.wrong == 0
    assert theirs.wrong == 2
    assert bench.disagreements(ours=ours, theirs=theirs) == 2
    assert bench.disagreements(ours=theirs, theirs=ours) == 2
    assert bench.disagreements(ours=ours, theirs=_run("nmap", dict(TRUTH))) == 0


def test_positional_arguments_are_refused() -> None:
    """The bug that made every disagreement count 0 was a positional call that put the
    states by target in the wrong field: the bench's calls take keywords only."""
    compare: Any = bench.compare
    tool_run: Any = bench.ToolRun
    with pytest.raises(TypeError):
        compare("nmap", 2.0, 10.0, dict(TRUTH), WORK)
    with pytest.raises(TypeError):
        tool_run("nmap", 2.0, 10.0, {}, 0, [], [], dict(TRUTH))
    disagreements: Any = bench.disagreements
    ours = _run("sepcheck", dict(TRUTH))
    with pytest.raises(TypeError):
        disagreements(ours, ours)
