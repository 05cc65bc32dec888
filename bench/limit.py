"""What the lab itself can carry: the kernel's own packet rate through the namespaces.

    sudo .venv/bin/python -m bench.limit [--hosts 16384] [--runs 3]

Builds the lab of bench.run (client, nftables router, server answering for the AnyIP
block) and runs bench/sender.py in the client namespace: one raw socket sending
precomputed SYNs to the responsive workload's targets as fast as the kernel takes them,
reading the answers in between. It prints the median rate at which SYNs left and answers
came back: the ceiling of any prober on these two cores, against which sepcheck's and
nmap's rates (bench.run) can be read as a share. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench.workloads import RULES
from tests.lab.lab import Lab, missing_requirements


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=16384)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    reason = missing_requirements()
    if reason:
        print(f"bench: {reason}")
        return 2
    lab = Lab()
    runs = []
    try:
        lab.build()
        lab.firewall(RULES)
        lab.serve(tcp=[139], udp=[])
        for _ in range(args.runs):
            done = lab.exec(
                sys.executable, "-m", "bench.sender", "--hosts", str(args.hosts), timeout=300
            )
            if done.returncode:
                print(f"bench: the sender failed: {done.stderr[-2000:]}")
                return 2
            runs.append(json.loads(done.stdout))
    finally:
        lab.teardown()
    for run in runs:
        print(json.dumps(run))
    sent = statistics.median(r["send_pps"] for r in runs)
    answered = statistics.median(r["answer_pps"] for r in runs)
    lost = max(r["packets"] - r["answered"] for r in runs)
    print(
        f"lab limit (trivial sender, median of {len(runs)}): {sent:,.0f} SYNs/s sent, "
        f"{answered:,.0f} answers/s back, {lost} unanswered at worst"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
