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
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.figures import result_row, results_table
from bench.measure import ToolRun, compare, disagreements, median, run_measured
from bench.tools import bench_catalogue, run_nmap, run_sepcheck
from bench.workloads import RULES, Workload, loss_rules, truth, workloads
from tests.lab.lab import Lab, missing_requirements

# The steps live in bench/workloads.py, measure.py, tools.py and figures.py; their names
# stay importable from here, as they were when this was one module.
__all__ = [
    "ToolRun",
    "Workload",
    "bench_catalogue",
    "compare",
    "disagreements",
    "main",
    "run_measured",
    "run_nmap",
    "run_sepcheck",
    "truth",
    "workloads",
]


@dataclass(frozen=True)
class Options:
    """The command line, read."""

    only: list[str] | None
    quick: bool
    no_nmap: bool
    repeat: int
    json: Path
    loss: int
    raw: bool
    sepcheck_args: list[str]
    """Extra arguments for sepcheck check (with --raw: --mode raw)."""


def _options() -> Options:
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
        "--app",
        action="store_true",
        help="keep sepcheck's application checks on (by default they are off: nmap -sT "
        "reads no application layer, so the comparison is like for like)",
    )
    parser.add_argument(
        "--sepcheck-arg",
        action="append",
        default=[],
        help="extra argument for sepcheck check (repeatable)",
    )
    args = parser.parse_args()
    return Options(
        only=args.only,
        quick=args.quick,
        no_nmap=args.no_nmap,
        repeat=args.repeat,
        json=args.json,
        loss=args.loss,
        raw=args.raw,
        sepcheck_args=[
            *args.sepcheck_arg,
            *(["--mode", "raw"] if args.raw else []),
            *([] if args.app else ["--no-app"]),
        ],
    )


def main() -> int:
    options = _options()
    console = Console(width=None if sys.stdout.isatty() else 170)
    reason = missing_requirements()
    if reason:
        console.print(f"bench: {reason}")
        return 2
    selected = [
        w
        for name, group in workloads(options.quick).items()
        if not options.only or name in options.only
        for w in group
    ]
    results, misclassified = _run_in_lab(selected, options, console)
    console.print(results_table(results))
    options.json.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"figures written to {options.json}")
    if misclassified:
        console.print(f"[bold red]sepcheck misclassified {misclassified} probes[/]")
        return 1
    return 0


def _run_in_lab(
    selected: list[Workload], options: Options, console: Console
) -> tuple[list[dict[str, Any]], int]:
    """Build the lab, run every selected workload, tear the lab down (also on errors);
    the figures per workload and how many probes sepcheck misclassified in all."""
    lab = Lab()
    results: list[dict[str, Any]] = []
    misclassified = 0
    try:
        lab.build()
        lab.firewall(RULES + loss_rules(options.loss))
        lab.serve(tcp=[139], udp=[137])
        with tempfile.TemporaryDirectory(prefix="sepcheck-bench-") as tmp:
            folder = Path(tmp)
            os.chmod(folder, 0o755)
            for work in selected:
                ours, theirs = _run_workload(lab, work, folder, options, console)
                misclassified += ours.wrong
                results.append(result_row(work, ours, theirs))
    finally:
        lab.teardown()
    return results, misclassified


def _run_workload(
    lab: Lab, work: Workload, folder: Path, options: Options, console: Console
) -> tuple[ToolRun, ToolRun | None]:
    """sepcheck, then nmap (unless --no-nmap), each ``--repeat`` times unsampled (the median
    run's time is the figure) and once more with its memory sampled (run_measured)."""
    console.print(
        f"[bold]{work.name}[/]: {work.hosts:,} hosts x "
        f"{len(work.tcp) + len(work.udp)} ports = {work.probes:,} probes"
    )
    extra = options.sepcheck_args
    ours = median(
        [run_sepcheck(lab, work, folder, extra) for _ in range(options.repeat)],
        run_sepcheck(lab, work, folder, extra, memory=True),
    )
    console.print(f"  sepcheck {ours.seconds:.2f} s, {ours.wrong} wrong")
    if options.no_nmap or not work.nmap:
        return ours, None
    theirs = median(
        [run_nmap(lab, work, folder, raw=options.raw) for _ in range(options.repeat)],
        run_nmap(lab, work, folder, raw=options.raw, memory=True),
    )
    console.print(f"  nmap     {theirs.seconds:.2f} s, {theirs.wrong} wrong")
    return ours, theirs


if __name__ == "__main__":
    sys.exit(main())
