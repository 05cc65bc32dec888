"""How fast sepcheck starts: whole-process wall time of its most common commands, next to
nmap on the same 7 ports, median of several runs.

    sudo .venv/bin/python -m bench.startup              # 9 runs of each (default)
    sudo .venv/bin/python -m bench.startup --runs 21 --json startup.json
    sudo .venv/bin/python -m bench.startup --checkout /tmp/before/tree   # an older tree

The most common run is a client checking its manager: `sepcheck check --as client --manager
HOST` plans 7 TCP probes. Here HOST is 127.0.0.1 inside a network namespace this script
creates (so nothing else on the machine answers or collides); nothing listens there, so
every probe is answered at once (refused) and the figure is sepcheck's own cost: start-up,
imports, planning, the run and the report. nmap gets the same 7 ports (`-n -Pn -sT`).
sepcheck runs from this checkout (`python -m sepcheck`), as bench/run.py does.

Bytecode: an installed sepcheck starts from compiled bytecode (pip writes it at install).
By default (``--bytecode cached``) the runs keep theirs in a private folder that the first,
unmeasured run of each command fills, so that every checkout is measured alike: stray
``__pycache__`` folders in a checkout, or PYTHONDONTWRITEBYTECODE in the environment (which
makes every start compile sepcheck's sources again), change nothing. ``--bytecode inherit``
runs with the environment as it is (the figures before this option existed).

Goals (the architecture issue): `--version` and `--help` under 0.15 s, the 7-probe check
under 0.35 s on a 2-core machine. Benchmarks are not tests: nothing here runs in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTS = (8014, 443, 8447, 8765, 1100, 9090, 8443)
"""What `check --as client --manager HOST` probes with the shipped catalogue."""
NAMESPACE = f"scstart{os.getpid()}"


def commands(python: str) -> dict[str, list[str]]:
    sepcheck = [python, "-m", "sepcheck"]
    found = {
        "sepcheck --version": [*sepcheck, "--version"],
        "sepcheck --help": [*sepcheck, "--help"],
        "sepcheck check (7 probes)": [
            *sepcheck,
            "check",
            "--as",
            "client",
            "--manager",
            "127.0.0.1",
            "--no-progress",
        ],
    }
    if shutil.which("nmap"):
        ports = ",".join(str(p) for p in PORTS)
        found["nmap -sT (same 7 ports)"] = ["nmap", "-n", "-Pn", "-sT", "-p", ports, "127.0.0.1"]
    return found


def environment(bytecode: str, cache: Path) -> dict[str, str]:
    """The runs' environment: as it is (``inherit``), or with bytecode kept in ``cache``."""
    env = dict(os.environ)
    if bytecode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def timed(
    args: list[str], prefix: list[str], checkout: Path, env: dict[str, str]
) -> tuple[float, int]:
    """Wall seconds of the whole process (exec to exit), and its exit status."""
    started = time.perf_counter()
    done = subprocess.run(
        [*prefix, *args],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (median)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="run sepcheck from this checkout (default: this one), e.g. a worktree of an "
        "earlier commit for a before/after comparison",
    )
    parser.add_argument(
        "--bytecode",
        choices=("cached", "inherit"),
        default="cached",
        help="cached: compiled bytecode in a private folder, as an installed sepcheck has it "
        "(default); inherit: the environment as it is",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    prefix: list[str] = []
    if os.geteuid() == 0 and shutil.which("ip"):
        subprocess.run(["ip", "netns", "add", NAMESPACE], check=True)
        subprocess.run(["ip", "-n", NAMESPACE, "link", "set", "lo", "up"], check=True)
        prefix = ["ip", "netns", "exec", NAMESPACE]
    else:
        print("bench.startup: not root: on this host's own loopback", file=sys.stderr)
    figures: dict[str, dict[str, object]] = {}
    cache = tempfile.TemporaryDirectory(prefix="sepcheck-bytecode-")
    env = environment(args.bytecode, Path(cache.name))
    try:
        for name, command in commands(sys.executable).items():
            # Warm the page cache (and the bytecode): every run then starts alike.
            timed(command, prefix, args.checkout, env)
            runs = [timed(command, prefix, args.checkout, env) for _ in range(args.runs)]
            seconds = [s for s, _ in runs]
            figures[name] = {
                "median_s": round(statistics.median(seconds), 4),
                "min_s": round(min(seconds), 4),
                "max_s": round(max(seconds), 4),
                "exit_codes": sorted({code for _, code in runs}),
                "runs": args.runs,
                "bytecode": args.bytecode,
            }
    finally:
        if prefix:
            subprocess.run(["ip", "netns", "del", NAMESPACE], check=False)
        cache.cleanup()
    width = max(len(name) for name in figures)
    print(f"sepcheck from {args.checkout} (bytecode: {args.bytecode})")
    print(f"{'command':{width}}  median  min    max    exit  ({args.runs} runs, seconds)")
    for name, f in figures.items():
        codes = ",".join(str(c) for c in f["exit_codes"])  # type: ignore[attr-defined]
        print(f"{name:{width}}  {f['median_s']:.3f}   {f['min_s']:.3f}  {f['max_s']:.3f}  {codes}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
