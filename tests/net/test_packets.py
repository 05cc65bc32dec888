"""The raw-mode packet reader against scapy's own dissection, and the built probes
against scapy's checksums."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("scapy")

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6TimeExceeded,
    IPv6,
)
from scapy.utils import checksum

from sepcheck.net.raw import packets

ports = st.integers(1, 65535)
u32 = st.integers(0, 2**32 - 1)
ttls = st.integers(1, 255)
v4 = st.sampled_from(["198.18.2.2", "198.18.1.1", "198.19.7.200"])
v6 = st.sampled_from(["fd00:2::2", "fd00:1::1", "fd00::abcd"])


@given(v4, ttls, ports, ports, u32, u32, st.sampled_from(["SA", "RA", "R", "S"]))
def test_tcp4_reader_agrees_with_scapy(
    src: str, ttl: int, sport: int, dport: int, seq: int, ack: int, flags: str
) -> None:
    wire = bytes(
        IP(src=src, dst="198.18.1.2", ttl=ttl, options=[])
        / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags)
    )
    ours = packets.parse_tcp4(wire)
    theirs = IP(wire)
    assert ours is not None
    assert packets.unpack_address(ours.source) == theirs.src
    assert ours.ttl == theirs.ttl
    tcp = theirs[TCP]
    assert (ours.sport, ours.dport, ours.seq, ours.ack, ours.flags) == (
        tcp.sport,
        tcp.dport,
        tcp.seq,
        tcp.ack,
        int(tcp.flags),
    )


@given(v4, ttls, ports, ports, u32, st.sampled_from([(3, 13), (3, 3), (3, 1), (11, 0)]))
def test_icmp4_reader_finds_the_quoted_tcp_probe(
    src: str, ttl: int, sport: int, dport: int, seq: int, kind_code: tuple[int, int]
) -> None:
    kind, code = kind_code
    quoted = IPerror(src="198.18.1.2", dst="198.18.2.2") / TCPerror(
        sport=sport, dport=dport, seq=seq
    )
    wire = bytes(IP(src=src, dst="198.18.1.2", ttl=ttl) / ICMP(type=kind, code=code) / quoted)
    ours = packets.parse_icmp4(wire)
    theirs = IP(wire)
    assert ours is not None
    assert (ours.type, ours.code, ours.ttl) == (theirs[ICMP].type, theirs[ICMP].code, theirs.ttl)
    assert packets.unpack_address(ours.source) == src
    assert ours.quoted_destination is not None
    assert packets.unpack_address(ours.quoted_destination) == theirs[IPerror].dst
    assert (ours.quoted_protocol, ours.quoted_sport, ours.quoted_dport, ours.quoted_seq) == (
        6,
        theirs[TCPerror].sport,
        theirs[TCPerror].dport,
        theirs[TCPerror].seq,
    )


def test_icmp4_reader_finds_the_quoted_udp_probe_and_echo_replies() -> None:
    quoted = IPerror(src="198.18.1.2", dst="198.18.2.2") / UDP(sport=40000, dport=138)
    wire = bytes(IP(src="198.18.2.2", ttl=63) / ICMP(type=3, code=3) / quoted)
    ours = packets.parse_icmp4(wire)
    assert ours is not None
    assert (ours.quoted_protocol, ours.quoted_sport, ours.quoted_dport) == (17, 40000, 138)
    assert ours.quoted_seq is None
    echo = packets.parse_icmp4(bytes(IP(src="198.18.2.2", ttl=63) / ICMP(type=0, id=7, seq=9)))
    assert echo is not None
    assert (echo.echo_id, echo.echo_seq, echo.ttl) == (7, 9, 63)


@given(v6, ttls, ports, ports, u32, u32)
def test_tcp6_and_icmp6_readers_agree_with_scapy(
    src: str, hops: int, sport: int, dport: int, seq: int, ack: int
) -> None:
    # An IPv6 raw socket hands over the payload only: the sender and hop limit come from
    # recvmsg, which the reader is given.
    segment = bytes(TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags="RA"))
    ours = packets.parse_tcp6(segment, packets.pack_address(src), hops)
    assert ours is not None
    assert (ours.sport, ours.dport, ours.seq, ours.ack, ours.flags, ours.ttl) == (
        sport,
        dport,
        seq,
        ack,
        0x14,
        hops,
    )
    probe = IPv6(src="fd00:1::2", dst="fd00:2::2") / TCP(sport=sport, dport=dport, seq=seq)
    for layer, kind in ((ICMPv6DestUnreach(code=1), 1), (ICMPv6TimeExceeded(), 3)):
        message = bytes(IPv6(src=src, dst="fd00:1::2") / layer / probe)[40:]
        got = packets.parse_icmp6(message, packets.pack_address(src), hops)
        assert got is not None
        assert (got.type, got.quoted_protocol, got.quoted_dport, got.quoted_seq) == (
            kind,
            6,
            dport,
            seq,
        )
        assert got.quoted_destination == packets.pack_address("fd00:2::2")
    reply = bytes(ICMPv6EchoReply(id=5, seq=6))
    echo = packets.parse_icmp6(reply, packets.pack_address(src), hops)
    assert echo is not None
    assert (echo.echo_id, echo.echo_seq) == (5, 6)


@given(st.sampled_from([("198.18.1.2", "198.18.2.2"), ("fd00:1::2", "fd00:2::2")]), ports, u32)
def test_syn_segment_checksum_is_what_scapy_computes(
    pair: tuple[str, str], dport: int, seq: int
) -> None:
    src, dst = pair
    segment = packets.syn_segment(
        packets.pack_address(src), packets.pack_address(dst), 40000, dport, seq
    )
    layer = IP if ":" not in src else IPv6
    parsed = layer(bytes(layer(src=src, dst=dst) / TCP(segment)))
    sent = parsed[TCP]
    del sent.chksum  # scapy recomputes it when the field is unset
    again = layer(bytes(parsed))[TCP]
    assert TCP(segment).chksum == again.chksum
    assert (sent.sport, sent.dport, sent.seq, str(sent.flags)) == (40000, dport, seq, "S")
    assert dict(sent.options)["MSS"] == 1460


def test_echo_request_is_valid() -> None:
    wire = packets.echo_request(4, 0x1234, 7)
    icmp = ICMP(wire)
    assert (icmp.type, icmp.id, icmp.seq) == (8, 0x1234, 7)
    checked = ICMP(wire)
    del checked.chksum
    assert ICMP(bytes(checked)).chksum == icmp.chksum
    v6 = ICMPv6EchoRequest(packets.echo_request(6, 0x1234, 7))
    assert (v6.type, v6.id, v6.seq) == (128, 0x1234, 7)


def test_the_templates_are_what_scapy_builds() -> None:
    syn = TCP(sport=0, dport=0, seq=0, flags="S", window=1024, options=[("MSS", 1460)])
    built = bytearray(bytes(syn))
    built[16:18] = b"\0\0"  # the checksum, computed per probe
    assert bytes(built) == packets.SYN_TEMPLATE
    echo4 = bytearray(bytes(ICMP(type=8, code=0, id=0, seq=0) / b"sepcheck"))
    echo4[2:4] = b"\0\0"
    assert packets.ECHO_TEMPLATES[4] == bytes(echo4)
    assert packets.ECHO_TEMPLATES[6] == bytes(
        ICMPv6EchoRequest(id=0, seq=0, data=b"sepcheck", cksum=0)
    )


@given(st.binary(max_size=80))
def test_the_checksum_is_scapys(data: bytes) -> None:
    assert packets.checksum(data) == checksum(data)


def test_raw_mode_runs_without_scapy() -> None:
    """Raw mode's code paths, with scapy unimportable: it is the tests' oracle, and no
    requirement of an installed sepcheck."""
    code = (
        "import sys; sys.modules['scapy'] = None\n"
        "from sepcheck.net.raw import packets, privilege\n"
        "import sepcheck.net.raw.backend, sepcheck.net.raw.syn, sepcheck.trace\n"
        "a, b = packets.pack_address('198.18.1.2'), packets.pack_address('198.18.2.2')\n"
        "assert len(packets.syn_segment(a, b, 40000, 139, 7)) == 24\n"
        "assert len(packets.echo_request(4, 1, 2)) == 16\n"
        "privilege.raw_problem()\n"
        "assert not [m for m in sys.modules if m.startswith('scapy') and sys.modules[m]]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    assert done.returncode == 0, done.stderr
