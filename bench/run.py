"""sepcheck versus nmap on the lab's scale targets, side by side in one run.

    sudo .venv/bin/python -m bench.run                 # every workload
    sudo .venv/bin/python -m bench.run --only mixed    # one workload (mixed, responsive,
                                                       # silent, udp, growth)
    sudo .venv/bin/python -m bench.run --quick         # smaller sizes, for a smoke run
    sudo .venv/bin/python -m bench.run --raw           # sepcheck --mode raw vs nmap -sS

Builds the lab of tests/lab (client, nftables router, server) with the AnyIP block
198.19.0.0/16 on the server, so every address of it is a real host answering from the
server's kernel. For each workload it runs sepcheck (the CLI, as a user would) and then
`nmap -n -Pn -sT -T4` (`-sU` for UDP) on the same targets, and prints wall time, ratio,
probes per second, peak RSS, and how many probes each tool classified differently from the
lab's ground truth (and from each other). Figures also go to bench-results.json. Exit
status 1 when sepcheck misclassified anything, 2 when the lab cannot be built.

Benchmarks are not tests: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from tests.lab.lab import Lab, missing_requirements

ROOT = Path(__file__).resolve().parents[1]
BASE = IPv4Address("198.19.0.1")
NMAP_STATES = {
    "open": "open",
    "closed": "refused",
    "filtered": "filtered",
    "open|filtered": "open|filtered",
}

# Ports of the targets and what the lab makes of them.
TCP_TRUTH = {139: "open", 445: "refused", 8014: "filtered", 8445: "filtered"}
UDP_TRUTH = {137: "open", 138: "refused", 514: "open|filtered"}
RULES = """
    ip daddr 198.19.0.0/16 tcp dport 8014 drop
    ip daddr 198.19.0.0/16 tcp dport 8445 reject with icmpx type admin-prohibited
    ip daddr 198.19.0.0/16 udp dport 514 drop
"""


@dataclass(frozen=True)
class Workload:
    name: str
    hosts: int
    tcp: tuple[int, ...] = ()
    udp: tuple[int, ...] = ()

    @property
    def probes(self) -> int:
        return self.hosts * (len(self.tcp) + len(self.udp))

    @property
    def block(self) -> str:
        last = IPv4Address(int(BASE) + self.hosts - 1)
        return f"{BASE}-{last}"


def workloads(quick: bool) -> dict[str, list[Workload]]:
    scale = 4 if quick else 1
    mixed = (139, 445, 8014, 8445)
    return {
        "mixed": [Workload("mixed", 4096 // scale, tcp=mixed)],
        "responsive": [Workload("responsive", 16384 // scale, tcp=(139, 445))],
        "silent": [Workload("silent", 4096 // scale, tcp=(8014,))],
        "udp": [Workload("udp", 1024 // scale, udp=(137, 138, 514))],
        "growth": [
            Workload(f"growth-{n // scale}", n // scale, tcp=mixed) for n in (1024, 4096, 16384)
        ],
    }


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


def run_measured(lab: Lab, args: list[str], *, timeout: float) -> tuple[float, float, int]:
    """Run ``args`` in the client namespace; wall seconds, peak RSS (MB), exit status.

    Peak memory is the largest PSS sum over the tool's whole process tree (sepcheck's
    workers count), sampled every 10 ms. (ru_maxrss would be wrong twice over: it is per process,
    and a child forked from this big benchmark process inherits its high-water mark.)"""
    with tempfile.TemporaryFile("w+") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            ["ip", "netns", "exec", lab.client, *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
        )
        root = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss(root))
            if time.monotonic() - started > timeout:
                process.kill()
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        code = process.returncode
        if code not in (0, 1):
            log.seek(0)
            raise RuntimeError(f"{args[0]} exited with {code}: {log.read()[-2000:]}")
    return elapsed, peak / 2**20, code


def truth(protocol: str, port: int) -> str:
    return (TCP_TRUTH if protocol == "tcp" else UDP_TRUTH)[port]


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


def bench_catalogue(folder: Path, work: Workload) -> Path:
    lines = ["schema = 1"]
    for proto, ports in (("tcp", work.tcp), ("udp", work.udp)):
        for port in ports:
            lines += [
                "[[entry]]",
                f'id = "manager-client-{proto}{port}"',
                "row = 0",
                f'protocol = "{proto}"',
                f"port = {port}",
                'source = "manager"',
                'destination = "client"',
                f'purpose = "bench {proto}/{port}"',
                "configurable = true",
                'versions = "all"',
            ]
    path = folder / f"catalogue-{work.name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_sepcheck(lab: Lab, work: Workload, folder: Path, extra: list[str]) -> ToolRun:
    report = folder / f"sepcheck-{work.name}.json"
    args = [
        sys.executable,
        "-m",
        "sepcheck",
        "check",
        "--no-progress",
        "--as",
        "manager",
        "--catalogue",
        str(bench_catalogue(folder, work)),
        "--client",
        work.block,
        "--allow-large-ranges",
        "--output",
        str(report),
        *extra,
    ]
    seconds, rss, _ = run_measured(lab, args, timeout=3600)
    data = json.loads(report.read_text())
    found = {(r["address"], r["protocol"], r["port"]): r["state"] for r in data["results"]}
    return compare(tool="sepcheck", seconds=seconds, rss=rss, found=found, work=work)


def run_nmap(lab: Lab, work: Workload, folder: Path, *, raw: bool = False) -> ToolRun:
    out = folder / f"nmap-{work.name}.xml"
    scans = ([("-sS" if raw else "-sT")] if work.tcp else []) + (["-sU"] if work.udp else [])
    ports = ",".join([f"T:{p}" for p in work.tcp] + [f"U:{p}" for p in work.udp])
    # nmap reads ranges per octet, not as first-last: give it the exact list of addresses.
    targets = folder / f"targets-{work.name}.txt"
    targets.write_text("".join(f"{IPv4Address(int(BASE) + i)}\n" for i in range(work.hosts)))
    args = ["nmap", "-n", "-Pn", *scans, "-T4", "-p", ports, "-oX", str(out), "-iL", str(targets)]
    seconds, rss, _ = run_measured(lab, args, timeout=7200)
    found: dict[tuple[str, str, int], str] = {}
    for host in ET.parse(out).iter("host"):
        address = host.find("address")
        assert address is not None
        for port in host.iter("port"):
            state = port.find("state")
            assert state is not None
            key = (address.get("addr", ""), port.get("protocol", ""), int(port.get("portid", "0")))
            found[key] = NMAP_STATES.get(state.get("state", ""), state.get("state", ""))
    return compare(tool="nmap", seconds=seconds, rss=rss, found=found, work=work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=list(workloads(False)),
        help="run only these workloads (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="a quarter of the sizes")
    parser.add_argument("--no-nmap", action="store_true", help="sepcheck only")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each tool N times and report the median time"
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--loss",
        type=int,
        default=0,
        metavar="PCT",
        help="drop this percentage of packets both ways in the router",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="raw mode against raw mode: sepcheck --mode raw versus nmap -sS",
    )
    parser.add_argument(
        "--sepcheck-arg",
        action="append",
        default=[],
        help="extra argument for sepcheck check (repeatable)",
    )
    args = parser.parse_args()
    if args.raw:
        args.sepcheck_arg += ["--mode", "raw"]
    console = Console(width=None if sys.stdout.isatty() else 170)
    reason = missing_requirements()
    if reason:
        console.print(f"bench: {reason}")
        return 2
    selected = [
        w
        for name, group in workloads(args.quick).items()
        if not args.only or name in args.only
        for w in group
    ]
    lab = Lab()
    results: list[dict[str, Any]] = []
    misclassified = 0
    try:
        lab.build()
        lab.firewall(RULES + _loss_rules(args.loss))
        lab.serve(tcp=[139], udp=[137])
        with tempfile.TemporaryDirectory(prefix="sepcheck-bench-") as tmp:
            folder = Path(tmp)
            os.chmod(folder, 0o755)
            for work in selected:
                console.print(
                    f"[bold]{work.name}[/]: {work.hosts:,} hosts x "
                    f"{len(work.tcp) + len(work.udp)} ports = {work.probes:,} probes"
                )
                ours = _median(
                    [run_sepcheck(lab, work, folder, args.sepcheck_arg) for _ in range(args.repeat)]
                )
                console.print(f"  sepcheck {ours.seconds:.2f} s, {ours.wrong} wrong")
                theirs = (
                    None
                    if args.no_nmap
                    else _median(
                        [run_nmap(lab, work, folder, raw=args.raw) for _ in range(args.repeat)]
                    )
                )
                if theirs:
                    console.print(f"  nmap     {theirs.seconds:.2f} s, {theirs.wrong} wrong")
                misclassified += ours.wrong
                disagree = disagreements(ours=ours, theirs=theirs) if theirs else None
                results.append(
                    {
                        "workload": asdict(work) | {"probes": work.probes, "block": work.block},
                        "sepcheck": _figures(ours, work),
                        "nmap": _figures(theirs, work) if theirs else None,
                        "speedup": (theirs.seconds / ours.seconds) if theirs else None,
                        "pps_ratio": (ours.pps(work.probes) / theirs.pps(work.probes))
                        if theirs
                        else None,
                        "disagreements_with_nmap": disagree,
                    }
                )
    finally:
        lab.teardown()
    console.print(_table(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"figures written to {args.json}")
    if misclassified:
        console.print(f"[bold red]sepcheck misclassified {misclassified} probes[/]")
        return 1
    return 0


def _loss_rules(percent: int) -> str:
    """Random loss on the path (the lab kernel has no netem): both directions."""
    if not percent:
        return ""
    return (
        f"    ip daddr 198.19.0.0/16 numgen random mod 100 < {percent} drop\n"
        f"    ip saddr 198.19.0.0/16 numgen random mod 100 < {percent} drop\n"
    )


def _median(runs: list[ToolRun]) -> ToolRun:
    """The run with the median time; misclassifications and memory are the worst seen,
    so repeating never hides an error."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    middle.wrong = max(r.wrong for r in runs)
    middle.peak_pss_mb = max(r.peak_pss_mb for r in runs)
    middle.all_seconds = [round(r.seconds, 3) for r in runs]
    return middle


def _figures(run: ToolRun, work: Workload) -> dict[str, Any]:
    return {
        "seconds": round(run.seconds, 3),
        "all_seconds": run.all_seconds,
        "probes_per_second": round(run.pps(work.probes), 1),
        "peak_pss_mb": round(run.peak_pss_mb, 1),
        "states": run.states,
        "misclassified": run.wrong,
        "examples": run.examples,
    }


def _table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="sepcheck vs nmap -T4 (same lab, same run)")
    for column in (
        "workload",
        "probes",
        "sepcheck s",
        "nmap s",
        "speedup",
        "sepcheck pps",
        "nmap pps",
        "pps ratio",
        "PSS MB (s/n)",
        "wrong (s/n)",
        "disagree",
    ):
        table.add_column(column, justify="right")
    for r in results:
        ours, theirs = r["sepcheck"], r["nmap"]
        table.add_row(
            r["workload"]["name"],
            f"{r['workload']['probes']:,}",
            f"{ours['seconds']:.2f}",
            f"{theirs['seconds']:.2f}" if theirs else "-",
            f"{r['speedup']:.1f}x" if r["speedup"] else "-",
            f"{ours['probes_per_second']:,.0f}",
            f"{theirs['probes_per_second']:,.0f}" if theirs else "-",
            f"{r['pps_ratio']:.2f}" if r["pps_ratio"] else "-",
            f"{ours['peak_pss_mb']:.0f}/{theirs['peak_pss_mb']:.0f}"
            if theirs
            else f"{ours['peak_pss_mb']:.0f}/-",
            f"{ours['misclassified']}/{theirs['misclassified']}"
            if theirs
            else f"{ours['misclassified']}/-",
            str(r["disagreements_with_nmap"]) if theirs else "-",
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
