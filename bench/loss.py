"""Small runs on a lossy path: how often a port is misread, today's retries against the
old ones, in one run.

    sudo .venv/bin/python -m bench.loss                 # 5% random loss each way, 100 runs
    sudo .venv/bin/python -m bench.loss --loss 3 --runs 300

Builds the lab of tests/lab with random loss on the router (nftables `numgen random`,
both ways) and runs the 7-probe client check (`check --as client --manager 198.18.2.2`)
again and again: 8014 listens, 443 and the manager's internal ports are closed, 8443 and
9090 are dropped. Each run is made twice: as sepcheck runs today (a small run assumes loss
until the path proves clean) and with `--max-retries 1` (the old behaviour: two tries).
A misread is an answering port (open or refused) reported as filtered. Prints the counts
and the time per run of both. Benchmarks are not tests: nothing here runs in the suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass

from tests.lab.lab import Lab, missing_requirements

TRUTH = {8014: "open", 443: "refused", 8447: "refused", 8765: "refused", 1100: "refused"}
DROPPED = (8443, 9090)


@dataclass
class Tally:
    runs: int = 0
    probes: int = 0
    misread: int = 0
    seconds: float = 0.0

    def line(self, name: str) -> str:
        rate = self.misread / self.probes if self.probes else 0.0
        return (
            f"{name:<28} {self.runs:>5} runs {self.probes:>6} answering probes "
            f"{self.misread:>4} misread ({rate:.3%})  {self.seconds / max(self.runs, 1):.2f} s/run"
        )


def one_run(lab: Lab, tally: Tally, extra: tuple[str, ...]) -> None:
    command = (sys.executable, "-m", "sepcheck", "check", "--no-progress", "--format", "json")
    started = time.monotonic()
    done = lab.exec(*command, "--as", "client", "--manager", "198.18.2.2", *extra)
    tally.seconds += time.monotonic() - started
    if not done.stdout.startswith("{"):
        raise RuntimeError(f"sepcheck gave no report (exit {done.returncode}): {done.stderr}")
    report = json.loads(done.stdout)
    tally.runs += 1
    seen: set[int] = set()
    for result in report["results"]:
        port = result["port"]
        if port in TRUTH and port not in seen:  # one probe per port (flows may share one)
            seen.add(port)
            tally.probes += 1
            tally.misread += result["state"] != TRUTH[port]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", type=float, default=5.0, help="percent lost each way")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    problem = missing_requirements()
    if problem:
        print(f"bench.loss: {problem}", file=sys.stderr)
        return 2
    lab = Lab()
    lab.build()
    try:
        drop = "".join(f"    tcp dport {port} drop\n" for port in DROPPED)
        lab.firewall(f"{drop}    numgen random mod 1000 < {int(args.loss * 10)} drop\n")
        lab.serve(tcp=[8014], udp=[])
        today, old = Tally(), Tally()
        for _ in range(args.runs):
            one_run(lab, today, ())
            one_run(lab, old, ("--max-retries", "1"))
        print(f"{args.loss:g}% random loss each way, 7-probe client check")
        print(today.line("today (assumes loss)"))
        print(old.line("old (2 tries)"))
    finally:
        lab.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
