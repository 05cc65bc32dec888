"""Running each tool on a workload, as a user would: sepcheck's CLI with a catalogue made
for the workload, and nmap with the exact list of addresses; each result is read back per
(address, protocol, port) in sepcheck's words.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from ipaddress import IPv4Address
from pathlib import Path

from bench.measure import ToolRun, compare, run_measured
from bench.workloads import BASE, Workload
from tests.lab.lab import Lab

NMAP_STATES = {
    "open": "open",
    "closed": "refused",
    "filtered": "filtered",
    "open|filtered": "open|filtered",
}


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


def run_sepcheck(
    lab: Lab, work: Workload, folder: Path, extra: list[str], *, memory: bool = False
) -> ToolRun:
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
    seconds, rss, _ = run_measured(lab, args, timeout=3600, memory=memory)
    data = json.loads(report.read_text())
    found = {(r["address"], r["protocol"], r["port"]): r["state"] for r in data["results"]}
    return compare(tool="sepcheck", seconds=seconds, rss=rss, found=found, work=work)


def run_nmap(
    lab: Lab, work: Workload, folder: Path, *, raw: bool = False, memory: bool = False
) -> ToolRun:
    out = folder / f"nmap-{work.name}.xml"
    scans = ([("-sS" if raw else "-sT")] if work.tcp else []) + (["-sU"] if work.udp else [])
    ports = ",".join([f"T:{p}" for p in work.tcp] + [f"U:{p}" for p in work.udp])
    # nmap reads ranges per octet, not as first-last: give it the exact list of addresses.
    targets = folder / f"targets-{work.name}.txt"
    targets.write_text("".join(f"{IPv4Address(int(BASE) + i)}\n" for i in range(work.hosts)))
    args = ["nmap", "-n", "-Pn", *scans, "-T4", "-p", ports, "-oX", str(out), "-iL", str(targets)]
    seconds, rss, _ = run_measured(lab, args, timeout=7200, memory=memory)
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
