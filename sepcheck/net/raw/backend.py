"""The raw backend (``--mode raw``): half-open SYN probes and ICMP read first-hand.

Needs root or CAP_NET_RAW (``privilege.py``). Per address family it holds, for the whole
run, the sockets of ``side.py``: a raw TCP socket that sends every SYN (a template built
once with scapy, patched per probe, see packets.py) and receives the TCP segments for the
probes' port (``bpf.py``), a raw ICMP socket for errors and echo, and a socket reserving
the source port. For UDP each probe still has its own connected socket (the reply comes
back to it, with its TTL); its ICMP errors are read on the raw ICMP socket, which sees the
ICMP's sender and TTL. Replies reach their tries through ``dispatch.py``; 'closed'
answers are judged by TTL in ``forged.py``.

The half-open handshake: this host's kernel does not know the SYN it did not send from a
socket, so it answers the SYN-ACK with its own RST. That closes the half-open connection
on the target as nmap's SYN scan does; sepcheck does not send a second RST.

RTTs come from the kernel's receive timestamps (SO_TIMESTAMPNS), free of the loop's lag.

The engine sends TCP probes through ``syn_scanner`` (syn.py): no try object handed back,
no callback per probe, answers read in batches. ``start_tcp`` stays for callers that want
one try (and for the contract's tests).
"""

from __future__ import annotations

import socket
import sys

from sepcheck.net.plumbing import open_or_fail, resolve_addresses, start_or_settle
from sepcheck.net.poller import Poller, running_poller
from sepcheck.net.protocols import Channel, Done, Try
from sepcheck.net.raw import packets
from sepcheck.net.raw.dispatch import Matcher
from sepcheck.net.raw.forged import Forgery
from sepcheck.net.raw.side import Side
from sepcheck.net.raw.syn import RawSynScanner
from sepcheck.net.raw.tries import RawTcpTry, RawUdpChannel

if sys.platform != "linux":  # raw sockets, recvmsg, SO_TIMESTAMPNS, BPF
    raise ImportError("raw mode needs Linux")


class RawBackend:
    """Probes with raw sockets. Use it inside the event loop that runs the probes, and
    ``close()`` it when the run is over."""

    name = "raw"

    def __init__(self) -> None:
        self.sides: dict[int, Side] = {}
        self.forgery = Forgery(self.side)
        self.matcher = Matcher(self.forgery)
        self._poller: Poller | None = None
        self.syn_scanner = RawSynScanner(self)
        """The engine's batch path for TCP probes (syn.py)."""

    async def resolve(self, name: str, family: int) -> list[str]:
        return await resolve_addresses(name, family)

    def start_tcp(self, address: str, port: int, done: Done, ttl: int | None = None) -> Try:
        def start() -> Try:
            packed = packets.pack_address(address)
            return RawTcpTry(self.matcher, self.side(packed), address, packed, port, done, ttl)

        return start_or_settle(start, done)

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> Channel:
        def open_channel() -> Channel:
            packed = packets.pack_address(address)
            self._poller = running_poller(self._poller)
            return RawUdpChannel(
                self.matcher, self._poller, self.side(packed), address, packed, port, ttl
            )

        return open_or_fail(open_channel)

    def close(self) -> None:
        self.syn_scanner.close()
        for side in self.sides.values():
            side.close()
        self.sides.clear()
        for channel in list(self.matcher.udp_channels.values()):
            channel.close()
        self.matcher.tcp_tries.clear()
        self.forgery.forget_waiting()
        if self._poller is not None:
            self._poller.close()
            self._poller = None

    def side(self, packed: bytes) -> Side:
        """The raw sockets for ``packed``'s address family, opened on first use."""
        family = socket.AF_INET6 if len(packed) == 16 else socket.AF_INET
        side = self.sides.get(family)
        if side is None:
            side = self.sides[family] = Side(family, self.matcher.read_tcp, self.matcher.drain_icmp)
        return side
