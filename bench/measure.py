"""Measuring one tool's run: wall time and peak memory of its process tree, and how its
classifications compare with the lab's truth and with the other tool's.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

import psutil

from bench.workloads import BASE, Workload, truth
from tests.lab.lab import Lab

ROOT = Path(__file__).resolve().parents[1]


@dataclass(kw_only=True)
class ToolRun:
    """One tool's run of one workload. Keyword-only: two of its fields are dictionaries
    and several are numbers, so a positional call could put one in the other's place and
    still type-check (``by_target`` once went to ``all_seconds`` that way, which made
    every disagreement count 0)."""

    tool: str
    seconds: float
    peak_pss_mb: float
    states: dict[str, int]
    wrong: int
    """Probes whose state differs from the lab's ground truth."""
    examples: list[str] = field(default_factory=list)
    all_seconds: list[float] = field(default_factory=list)
    by_target: dict[tuple[str, str, int], str] = field(default_factory=dict, repr=False)
    """State per (address, protocol, port) as the tool reported it."""

    def pps(self, probes: int) -> float:
        return probes / self.seconds if self.seconds else 0.0


def _tree_rss(root: psutil.Process) -> int:
    """Memory of a process tree: the sum of PSS (proportional set size), so pages that
    forked workers share with their parent are counted once, not once per process."""
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            total += getattr(info, "pss", info.rss)
    return total


def run_measured(
    lab: Lab, args: list[str], *, timeout: float, memory: bool = False
) -> tuple[float, float, int]:
    """Run ``args`` in the client namespace; wall seconds, peak PSS (MB; 0 unless
    ``memory``), exit status.

    Peak memory is the largest PSS sum over the tool's whole process tree (sepcheck's
    workers count), sampled every 10 ms. (ru_maxrss would be wrong twice over: it is per
    process, and a child forked from this big benchmark process inherits its high-water
    mark.) Sampling costs CPU (psutil reads each process's smaps): on two cores it slowed a
    two-worker sepcheck run by about 15% and nmap's one process not at all, so runs that
    are timed are not sampled; the memory figure comes from a run of its own."""
    with tempfile.TemporaryFile("w+") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            ["ip", "netns", "exec", lab.client, *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
        )
        peak = 0
        if memory:
            root = psutil.Process(process.pid)
            while process.poll() is None:
                peak = max(peak, _tree_rss(root))
                if time.monotonic() - started > timeout:
                    process.kill()
                time.sleep(0.01)
        else:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elapsed = time.monotonic() - started
        code = process.returncode
        if code not in (0, 1):
            log.seek(0)
            raise RuntimeError(f"{args[0]} exited with {code}: {log.read()[-2000:]}")
    return elapsed, peak / 2**20, code


def compare(
    *,
    tool: str,
    seconds: float,
    rss: float,
    found: dict[tuple[str, str, int], str],
    work: Workload,
) -> ToolRun:
    """The tool's run, with the probes it classified differently from the lab's truth."""
    wrong = 0
    examples: list[str] = []
    expected = {
        (str(IPv4Address(int(BASE) + i)), proto, port)
        for i in range(work.hosts)
        for proto, ports in (("tcp", work.tcp), ("udp", work.udp))
        for port in ports
    }
    for key in expected:
        state = found.get(key, "missing")
        if state != truth(key[1], key[2]):
            wrong += 1
            if len(examples) < 5:
                examples.append(f"{key[0]} {key[1]}/{key[2]}: {state}")
    return ToolRun(
        tool=tool,
        seconds=seconds,
        peak_pss_mb=rss,
        states=dict(Counter(found.values())),
        wrong=wrong,
        examples=examples,
        by_target=found,
    )


def disagreements(*, ours: ToolRun, theirs: ToolRun) -> int:
    """Targets the two tools classified differently; a target only one of them reported
    counts too (the other tool's state for it is "missing")."""
    keys = ours.by_target.keys() | theirs.by_target.keys()
    return sum(
        1
        for key in keys
        if ours.by_target.get(key, "missing") != theirs.by_target.get(key, "missing")
    )


def median(runs: list[ToolRun], memory: ToolRun | None = None) -> ToolRun:
    """The run with the median time; misclassifications are the worst seen over every
    run (``memory`` too), so repeating never hides an error; the peak memory is the
    memory run's (timed runs are not sampled, see run_measured)."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    everything = [*runs, memory] if memory is not None else runs
    middle.wrong = max(r.wrong for r in everything)
    middle.peak_pss_mb = max(r.peak_pss_mb for r in everything)
    middle.all_seconds = [round(r.seconds, 3) for r in runs]
    return middle
