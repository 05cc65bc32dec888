"""The trivial sender of bench/limit.py: run inside the lab's client namespace (root).

Precomputes one SYN per (host, port), then sends them all from one raw socket as fast as
the kernel takes them, reading the answers in between, and prints what it measured as
one JSON object. No scheduling, no timeouts, no retries, no results: what is left is the
kernel's cost of a packet through the lab (client, router, server on the same cores) and a
few microseconds of Python per packet.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from ipaddress import IPv4Address

from sepcheck.net.raw import packets

_QUIET = 0.5
"""Seconds without an answer after the last send that end the measurement."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", default="198.19.0.1")
    parser.add_argument("--hosts", type=int, default=16384)
    parser.add_argument("--ports", default="139,445")
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE: lose no answer here
    raw.setblocking(False)
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))  # reserves the source port: the kernel answers no SYN-ACK
    sport = holder.getsockname()[1]
    first = int(IPv4Address(args.first))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as route:
        route.connect((args.first, 9))
        source = packets.pack_address(route.getsockname()[0])
    probes: list[tuple[bytes, tuple[str, int]]] = []
    for i in range(args.hosts):
        address = str(IPv4Address(first + i))
        packed = packets.pack_address(address)
        for port in ports:
            seq = len(probes)
            probes.append((packets.syn_segment(source, packed, sport, port, seq), (address, 0)))
    answered: set[int] = set()
    last = 0.0

    def drain() -> None:
        nonlocal last
        while True:
            try:
                data = raw.recv(256)
            except BlockingIOError:
                return
            reply = packets.parse_tcp4(data)
            if reply is not None and reply.dport == sport and reply.flags & packets.TCP_ACK:
                answered.add((reply.ack - 1) & 0xFFFFFFFF)
                last = time.perf_counter()

    started = time.perf_counter()
    for index, (segment, target) in enumerate(probes):
        while True:
            try:
                raw.sendto(segment, target)
                break
            except (BlockingIOError, OSError):
                drain()  # the kernel's queue is full: read while it drains
        if index % 64 == 0:
            drain()
    sent = time.perf_counter()
    while len(answered) < len(probes) and time.perf_counter() - max(sent, last) < _QUIET:
        drain()
        time.sleep(0.001)
    print(
        json.dumps(
            {
                "packets": len(probes),
                "send_seconds": round(sent - started, 4),
                "send_pps": round(len(probes) / (sent - started)),
                "answered": len(answered),
                "answered_seconds": round(last - started, 4),
                "answer_pps": round(len(answered) / (last - started)) if last else 0,
            }
        )
    )


if __name__ == "__main__":
    main()
