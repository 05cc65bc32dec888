"""What the benchmark measures: the workloads, and what the lab makes of each port.

The lab's server answers on every address of 198.19.0.0/16 (AnyIP); its router's rules
(``RULES``) drop or reject some ports, so every probe has a known right answer
(``truth``) to hold each tool's classification against.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

BASE = IPv4Address("198.19.0.1")

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
    nmap: bool = True
    """Run nmap on it too (the largest growth size would keep nmap busy for many minutes
    and tells nothing new about it: sepcheck alone, for its memory)."""

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
        # 4k, 16k, 64k and 256k probes: memory must stay flat across them.
        "growth": [
            Workload(f"growth-{n // scale}", n // scale, tcp=mixed, nmap=n < 65534)
            for n in (1024, 4096, 16384, 65534)
        ],
    }


def truth(protocol: str, port: int) -> str:
    return (TCP_TRUTH if protocol == "tcp" else UDP_TRUTH)[port]


def loss_rules(percent: int) -> str:
    """Random loss on the path (the lab kernel has no netem): both directions."""
    if not percent:
        return ""
    return (
        f"    ip daddr 198.19.0.0/16 numgen random mod 100 < {percent} drop\n"
        f"    ip saddr 198.19.0.0/16 numgen random mod 100 < {percent} drop\n"
    )
