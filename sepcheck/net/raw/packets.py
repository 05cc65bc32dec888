"""Raw-mode packets: templates patched per probe; replies parsed.

The templates are the bytes scapy builds for nmap's SYN (window 1024, MSS 1460) and for an
ICMP/ICMPv6 echo request; tests build them with scapy and hold these constants equal, as
they hold the checksum below equal to scapy's. They are constants, not built at run time,
because importing scapy takes a fifth of a second or more (measured here), which a
half-open scan of 30,000 ports lasting about a second should not spend on 24 bytes.

Why scapy does not read the replies either: dissecting a packet with scapy costs about
220 us here (``IP(data)``), so a run of 30,000 probes would spend seconds of CPU in
dissection alone, and the engine's loop would lag. Replies are read instead by unpacking
the few fixed fields that matter (addresses, ports, sequence numbers, flags, ICMP type and
code, TTL) with ``struct``; tests hold this reader equal to scapy's dissection on packets
scapy builds.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6 = 6, 17, 1, 58

_PORTS_SEQ = struct.Struct("!HHI")
_TCP_HEAD = struct.Struct("!HHIIBB")
_ECHO = struct.Struct("!HH")
_CHECKSUM = struct.Struct("!H")

SYN_TEMPLATE = bytes.fromhex(
    "0000"  # source port (patched)
    "0000"  # destination port (patched)
    "00000000"  # sequence number (patched)
    "00000000"  # acknowledgement number
    "60"  # data offset: 6 words (20 bytes of header, 4 of options)
    "02"  # flags: SYN
    "0400"  # window 1024, as nmap
    "0000"  # checksum (computed per probe)
    "0000"  # urgent pointer
    "020405b4"  # option MSS (kind 2, length 4) 1460, as nmap
)
"""A TCP SYN header as nmap sends it, ports, sequence number and checksum zero."""

ECHO_TEMPLATES = {
    4: bytes.fromhex("0800000000000000") + b"sepcheck",  # ICMP type 8, code 0
    6: bytes.fromhex("8000000000000000") + b"sepcheck",  # ICMPv6 type 128, code 0
}
"""Echo requests, identifier, sequence number and checksum zero, with a payload that
names the tool to whoever captures it."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: the ones' complement of the ones'
    complement sum of its 16-bit big-endian words (an odd byte padded with zero)."""
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_segment(source: bytes, destination: bytes, sport: int, dport: int, seq: int) -> bytes:
    """The SYN segment for one probe, checksummed over the pseudo-header of RFC 793 (IPv4)
    or RFC 8200 (IPv6): raw sockets other than ICMPv6 leave the checksum to us."""
    segment = bytearray(SYN_TEMPLATE)
    _PORTS_SEQ.pack_into(segment, 0, sport, dport, seq)
    if len(destination) == 4:
        pseudo = source + destination + struct.pack("!BBH", 0, PROTO_TCP, len(segment))
    else:
        pseudo = source + destination + struct.pack("!I3xB", len(segment), PROTO_TCP)
    _CHECKSUM.pack_into(segment, 16, checksum(pseudo + segment))
    return bytes(segment)


def echo_request(version: int, ident: int, seq: int) -> bytes:
    """An ICMP (v4) or ICMPv6 echo request; the kernel fills the ICMPv6 checksum."""
    data = bytearray(ECHO_TEMPLATES[version])
    _ECHO.pack_into(data, 4, ident, seq)
    if version == 4:
        _CHECKSUM.pack_into(data, 2, checksum(bytes(data)))
    return bytes(data)


@dataclass(frozen=True, slots=True)
class TcpReply:
    source: bytes
    """Packed address of the sender."""
    ttl: int
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int


@dataclass(frozen=True, slots=True)
class IcmpReply:
    source: bytes
    ttl: int
    version: int
    type: int
    code: int
    quoted_destination: bytes | None = None
    """From the quoted packet of an error: where our probe was going..."""
    quoted_protocol: int | None = None
    quoted_sport: int | None = None
    quoted_dport: int | None = None
    quoted_seq: int | None = None
    """... and, for TCP, the sequence number it carried."""
    echo_id: int | None = None
    echo_seq: int | None = None


def parse_tcp4(data: bytes) -> TcpReply | None:
    """A TCP segment as an IPv4 raw socket delivers it (IP header included)."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if len(data) < ihl + 14:
        return None
    sport, dport, seq, ack, _, flags = _TCP_HEAD.unpack_from(data, ihl)
    return TcpReply(data[12:16], data[8], sport, dport, seq, ack, flags)


def parse_tcp6(data: bytes, source: bytes, hop_limit: int) -> TcpReply | None:
    """A TCP segment as an IPv6 raw socket delivers it (no IP header: the sender and hop
    limit come from recvmsg)."""
    if len(data) < 14:
        return None
    sport, dport, seq, ack, _, flags = _TCP_HEAD.unpack_from(data, 0)
    return TcpReply(source, hop_limit, sport, dport, seq, ack, flags)


def _quoted(reply: IcmpReply, proto: int, dest: bytes, transport: bytes) -> IcmpReply:
    sport = dport = seq = None
    if len(transport) >= 4:
        sport, dport = struct.unpack_from("!HH", transport, 0)
    if proto == PROTO_TCP and len(transport) >= 8:
        (seq,) = struct.unpack_from("!I", transport, 4)
    return IcmpReply(
        reply.source,
        reply.ttl,
        reply.version,
        reply.type,
        reply.code,
        dest,
        proto,
        sport,
        dport,
        seq,
    )


def parse_icmp4(data: bytes) -> IcmpReply | None:
    """An ICMP message as an IPv4 raw socket delivers it (IP header included)."""
    if len(data) < 28 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if len(data) < ihl + 8:
        return None
    kind, code = data[ihl], data[ihl + 1]
    reply = IcmpReply(data[12:16], data[8], 4, kind, code)
    if kind == 0:  # echo reply
        ident, seq = _ECHO.unpack_from(data, ihl + 4)
        return IcmpReply(reply.source, reply.ttl, 4, kind, code, echo_id=ident, echo_seq=seq)
    if kind not in (3, 11):
        return reply
    inner = data[ihl + 8 :]
    if len(inner) < 20 or inner[0] >> 4 != 4:
        return reply
    inner_ihl = (inner[0] & 0x0F) * 4
    return _quoted(reply, inner[9], inner[16:20], inner[inner_ihl:])


def parse_icmp6(data: bytes, source: bytes, hop_limit: int) -> IcmpReply | None:
    """An ICMPv6 message as an IPv6 raw socket delivers it (from the ICMPv6 header on)."""
    if len(data) < 8:
        return None
    kind, code = data[0], data[1]
    reply = IcmpReply(source, hop_limit, 6, kind, code)
    if kind == 129:  # echo reply
        ident, seq = _ECHO.unpack_from(data, 4)
        return IcmpReply(source, hop_limit, 6, kind, code, echo_id=ident, echo_seq=seq)
    if kind not in (1, 3):
        return reply
    inner = data[8:]
    if len(inner) < 40 or inner[0] >> 4 != 6:
        return reply
    # Extension headers between the quoted IPv6 header and TCP/UDP are not followed: the
    # probes sepcheck sends carry none.
    return _quoted(reply, inner[6], inner[24:40], inner[40:])


def pack_address(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)


def unpack_address(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)
