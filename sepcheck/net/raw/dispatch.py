"""Replies read on the raw sockets, handed to the tries waiting for them.

Matched by dictionary lookup, no sniffer thread and no task per probe: TCP segments by
(sender, port, sequence number acknowledged), ICMP errors by what the quoted packet says
(destination, port, and the TCP sequence number or the UDP source port). 'Closed' answers
go through ``Forgery`` first.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sepcheck.net.classify import icmp_outcome
from sepcheck.net.outcome import Outcome, Seen
from sepcheck.net.raw import packets
from sepcheck.net.raw.forged import Forgery
from sepcheck.net.raw.side import Ancillary, Side

if sys.platform != "linux":  # raw sockets, recvmsg, SO_TIMESTAMPNS, BPF
    raise ImportError("raw mode needs Linux")

if TYPE_CHECKING:
    from sepcheck.net.raw.tries import Pending, RawTcpTry, RawUdpChannel

_BATCH = 1024
"""Most packets read from a raw socket per wake-up, so one busy socket cannot starve the
loop's timers."""

Key = tuple[bytes, int, int]


class Matcher:
    def __init__(self, forgery: Forgery) -> None:
        self.forgery = forgery
        self.tcp_tries: dict[Key, RawTcpTry] = {}
        """(destination, port, sequence number) -> the SYN's try."""
        self.udp_channels: dict[Key, RawUdpChannel] = {}
        """(destination, port, source port) -> the UDP probe's channel."""

    def drain(self, side: Side) -> None:
        """Read both raw sockets of ``side`` until the kernel holds nothing more for us."""
        while self.read_tcp(side) == _BATCH:
            pass
        while self.drain_icmp(side) == _BATCH:
            pass

    def read_tcp(self, side: Side) -> int:
        """Match the TCP segments waiting (at most _BATCH); how many were read."""
        tries = self.tcp_tries
        read = 0
        for data, extra, sender in side.batch(side.tcp, _BATCH):
            read += 1
            if side.version == 4:
                reply = packets.parse_tcp4(data)
            else:
                reply = packets.parse_tcp6(data, sender, extra.ttl or 0)
            if reply is None or reply.dport != side.sport:
                continue
            attempt = tries.get((reply.source, reply.sport, (reply.ack - 1) & 0xFFFFFFFF))
            if attempt is None or attempt.done is None or not reply.flags & packets.TCP_ACK:
                continue
            rtt, exact = attempt.rtt(extra.stamp)
            flags = reply.flags
            if flags & packets.TCP_RST:
                self.forgery.closed(
                    attempt,
                    Outcome(Seen.REFUSED, "reset", attempt.address, rtt, exact, ttl=reply.ttl),
                )
            elif flags & packets.TCP_SYN:
                self.forgery.learn(reply.source, reply.ttl)
                attempt.settle(
                    Outcome(Seen.OPEN, "syn-ack", attempt.address, rtt, exact, ttl=reply.ttl)
                )
        return read

    def drain_icmp(self, side: Side) -> int:
        """Match the ICMP messages waiting (at most _BATCH); how many were read."""
        read = 0
        for data, extra, sender in side.batch(side.icmp, _BATCH):
            read += 1
            if side.version == 4:
                reply = packets.parse_icmp4(data)
            else:
                reply = packets.parse_icmp6(data, sender, extra.ttl or 0)
            if reply is None:
                continue
            if reply.echo_id is not None:
                self.forgery.echo_reply(reply.source, reply.echo_id, reply.ttl)
                continue
            self._icmp_error(side, reply, extra)
        return read

    def _icmp_error(self, side: Side, reply: packets.IcmpReply, extra: Ancillary) -> None:
        dest, proto = reply.quoted_destination, reply.quoted_protocol
        if dest is None or reply.quoted_dport is None:
            return
        attempt: Pending | None
        if proto == packets.PROTO_TCP:
            if reply.quoted_sport != side.sport or reply.quoted_seq is None:
                return
            attempt = self.tcp_tries.get((dest, reply.quoted_dport, reply.quoted_seq))
        elif proto == packets.PROTO_UDP and reply.quoted_sport is not None:
            attempt = self.udp_channels.get((dest, reply.quoted_dport, reply.quoted_sport))
        else:
            return
        if attempt is None or attempt.done is None:
            return
        rtt, exact = attempt.rtt(extra.stamp)
        sender = packets.unpack_address(reply.source)
        outcome = icmp_outcome(
            reply.version, reply.type, reply.code, sender, rtt, rtt_exact=exact, ttl=reply.ttl
        )
        if outcome is None:
            return
        if outcome.reason == "port-unreach":
            self.forgery.closed(attempt, outcome)
        else:
            attempt.settle(outcome)
