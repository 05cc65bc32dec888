"""Raw-mode packets: templates built once with scapy, patched per probe; replies parsed.

Why scapy only builds templates: dissecting a packet with scapy costs about 220 us here
(``IP(data)``, measured on this project's machines), so a run of 30,000 probes would spend
seconds of CPU in dissection alone, and the engine's loop would lag. Replies are read
instead by unpacking the few fixed fields that matter (addresses, ports, sequence numbers,
flags, ICMP type and code, TTL) with ``struct``; tests hold this reader equal to scapy's
dissection on packets scapy builds. scapy is imported only in raw mode (it takes about a
second to import).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6 = 6, 17, 1, 58

_PORTS_SEQ = struct.Struct("!HHI")
_TCP_HEAD = struct.Struct("!HHIIBB")
_ECHO = struct.Struct("!HH")
_CHECKSUM = struct.Struct("!H")


@cache
def _scapy() -> Any:
    """scapy's layers, imported once and only when raw mode needs them."""
    import logging

    # scapy logs warnings about the host's routes on import; they are not ours to show.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    import scapy.layers.inet as inet
    import scapy.layers.inet6 as inet6
    import scapy.utils as utils

    return inet, inet6, utils


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    return int(_scapy()[2].checksum(data))


@cache
def syn_template() -> bytes:
    """A TCP SYN header as nmap sends it (window 1024, MSS 1460), ports, sequence number
    and checksum zero: the probe patches them."""
    inet = _scapy()[0]
    segment = inet.TCP(sport=0, dport=0, seq=0, flags="S", window=1024, options=[("MSS", 1460)])
    data = bytearray(bytes(segment))
    data[16:18] = b"\0\0"
    return bytes(data)


def syn_segment(source: bytes, destination: bytes, sport: int, dport: int, seq: int) -> bytes:
    """The SYN segment for one probe, checksummed over the pseudo-header of RFC 793 (IPv4)
    or RFC 8200 (IPv6): raw sockets other than ICMPv6 leave the checksum to us."""
    segment = bytearray(syn_template())
    _PORTS_SEQ.pack_into(segment, 0, sport, dport, seq)
    if len(destination) == 4:
        pseudo = source + destination + struct.pack("!BBH", 0, PROTO_TCP, len(segment))
    else:
        pseudo = source + destination + struct.pack("!I3xB", len(segment), PROTO_TCP)
    _CHECKSUM.pack_into(segment, 16, checksum(pseudo + segment))
    return bytes(segment)


@cache
def _echo_template(version: int) -> bytes:
    inet, inet6, _ = _scapy()
    if version == 4:
        return bytes(inet.ICMP(type=8, code=0, id=0, seq=0) / b"sepcheck")
    return bytes(inet6.ICMPv6EchoRequest(id=0, seq=0, data=b"sepcheck", cksum=0))


def echo_request(version: int, ident: int, seq: int) -> bytes:
    """An ICMP (v4) or ICMPv6 echo request; the kernel fills the ICMPv6 checksum."""
    data = bytearray(_echo_template(version))
    _ECHO.pack_into(data, 4, ident, seq)
    data[2:4] = b"\0\0"
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
