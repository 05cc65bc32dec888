"""Lab server: fast TCP listeners and UDP responders, run inside the server namespace.

    python -m tests.lab.listener --tcp 8014,443 --udp 137

Listens on the IPv6 wildcard with IPV6_V6ONLY off, so IPv4, IPv6 and every AnyIP address
routed to this namespace are served. Accepts are drained as fast as they come (a slow
accept loop overflows the backlog and makes open ports look filtered: a lab bug, not a
prober bug). UDP datagrams get a short reply. Prints "ready" when all sockets listen.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
REPLY = b"sepcheck-lab-reply"


def _reply_from(ancdata: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Ancillary data that sends the reply from the address the datagram arrived on."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            # struct in_pktinfo: ifindex, spec_dst, addr; answer from addr.
            return [(level, kind, bytes(4) + data[8:12] + bytes(4))]
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
            return [(level, kind, data[:16] + bytes(4))]
    return []


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp", type=_ports, default=[])
    parser.add_argument("--udp", type=_ports, default=[])
    args = parser.parse_args()
    selector = selectors.DefaultSelector()
    for port in args.tcp:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", port))
        sock.listen(4096)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, "tcp")
    for port in args.udp:
        # One socket per family with packet info on: a reply must leave from the address
        # the probe was sent to (an AnyIP address), or the prober's connected socket
        # drops it as coming from a stranger.
        v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        v4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        v4.bind(("0.0.0.0", port))
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        v6.bind(("::", port))
        for sock in (v4, v6):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, "udp")
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            sock = ready
            while True:
                try:
                    if key.data == "tcp":
                        conn, _ = sock.accept()
                        conn.close()
                    else:
                        _, ancdata, _, peer = sock.recvmsg(4096, 256)
                        sock.sendmsg([REPLY], _reply_from(ancdata), 0, peer)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. ECONNABORTED: keep serving
                    print(f"listener: {exc}", file=sys.stderr, flush=True)
                    break


if __name__ == "__main__":
    main()
