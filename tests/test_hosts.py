from __future__ import annotations

import ipaddress
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sepcheck.hosts import (
    AddressSpec,
    FileSpec,
    HostFileError,
    HostSpecError,
    NameSpec,
    NetworkSpec,
    RangeSpec,
    iter_host_file,
    parse_host_spec,
)


@pytest.mark.parametrize(
    ("text", "kind", "count"),
    [
        ("sepm01.example.test", NameSpec, 1),
        ("SEPM01", NameSpec, 1),
        ("198.18.1.5", AddressSpec, 1),
        ("fd00:18::5", AddressSpec, 1),
        ("198.18.1.0/28", NetworkSpec, 14),
        ("198.18.1.0/31", NetworkSpec, 2),
        ("198.18.1.7/32", NetworkSpec, 1),
        ("fd00:18::/120", NetworkSpec, 255),
        ("198.18.3.5-198.18.3.9", RangeSpec, 5),
        ("198.18.3.5-9", RangeSpec, 5),
        ("198.18.3.250-198.18.4.4", RangeSpec, 11),
        ("fd00::1-fd00::10", RangeSpec, 16),
    ],
)
def test_parse_and_count(text: str, kind: type, count: int) -> None:
    spec = parse_host_spec(text)
    assert isinstance(spec, kind)
    assert spec.count == count
    assert len(list(spec)) == count


def test_cidr_leaves_out_network_and_broadcast() -> None:
    addresses = [t.address for t in parse_host_spec("198.18.1.0/29")]
    assert addresses == [f"198.18.1.{i}" for i in range(1, 7)]
    targets = list(parse_host_spec("198.18.1.0/29"))
    assert {t.spec for t in targets} == {"198.18.1.0/29"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("198.18.1.300", "not a valid IPv4 address"),
        ("fd00::zz", "not a valid IPv6 address"),
        ("198.18.1.0/33", "not a valid CIDR block"),
        ("198.18.3.9-198.18.3.5", "ends before it starts"),
        ("198.18.3.5-fd00::1", "mixes IPv4 and IPv6"),
        ("198.18.3.5-300", "over 255"),
        ("bad_host!", "not a valid host name"),
        ("-lead.example", "not a valid host name"),
        ("", "empty host"),
        ("198.18.0.0/16", "--allow-large-ranges"),
        ("fd00::/64", "more than sepcheck ever probes"),
    ],
)
def test_bad_specs(text: str, words: str) -> None:
    with pytest.raises(HostSpecError, match=words.replace("-", "\\-")):
        parse_host_spec(text)


def test_large_block_with_flag_is_lazy() -> None:
    spec = parse_host_spec("198.18.0.0/15", allow_large=True)
    assert spec.count == 131070
    # Taking the first three must not build the other 131,067.
    first = [t.address for t in itertools.islice(spec, 3)]
    assert first == ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    with pytest.raises(HostSpecError):
        parse_host_spec("fd00::/64", allow_large=True)


def test_contains() -> None:
    ip = ipaddress.ip_address
    assert parse_host_spec("198.18.1.0/28").contains(ip("198.18.1.3"))
    assert not parse_host_spec("198.18.1.0/28").contains(ip("198.18.1.17"))
    assert not parse_host_spec("198.18.1.0/28").contains(ip("fd00::1"))
    assert parse_host_spec("198.18.3.5-9").contains(ip("198.18.3.9"))
    assert not parse_host_spec("198.18.3.5-9").contains(ip("198.18.3.10"))
    assert parse_host_spec("fd00:18::5").contains(ip("fd00:18::5"))
    assert not parse_host_spec("sepm01").contains(ip("198.18.1.1"))


def test_host_file(tmp_path: Path) -> None:
    path = tmp_path / "clients.txt"
    path.write_text("# clients\n198.18.1.1\n\n198.18.2.0/30  # lab\nwks01.example.test\n")
    specs = list(iter_host_file(path))
    assert [line for line, _ in specs] == [2, 4, 5]
    spec = FileSpec("clients.txt", path, sum(s.count for _, s in specs))
    assert spec.count == 4
    assert [t.host for t in spec] == [
        "198.18.1.1",
        "198.18.2.1",
        "198.18.2.2",
        "wks01.example.test",
    ]
    path.write_text("198.18.1.1\n198.18.1.999\n")
    with pytest.raises(HostFileError) as info:
        list(iter_host_file(path))
    assert info.value.line == 2


@given(st.integers(0, (1 << 32) - 1), st.integers(20, 32))
def test_network_count_matches_iteration(base: int, prefix: int) -> None:
    net = ipaddress.IPv4Network((base, prefix), strict=False)
    spec = parse_host_spec(str(net))
    assert spec.count == sum(1 for _ in spec)
    assert all(spec.contains(ipaddress.ip_address(t.address)) for t in spec if t.address)


@given(st.integers(0, (1 << 32) - 2000), st.integers(0, 1500))
def test_range_count_and_bounds(start: int, length: int) -> None:
    first = ipaddress.IPv4Address(start)
    last = ipaddress.IPv4Address(start + length)
    spec = parse_host_spec(f"{first}-{last}")
    addresses = [t.address for t in spec]
    assert spec.count == len(addresses) == length + 1
    assert addresses[0] == str(first)
    assert addresses[-1] == str(last)


@given(st.integers(0, (1 << 128) - 1), st.integers(116, 128))
def test_ipv6_network_count(base: int, prefix: int) -> None:
    net = ipaddress.IPv6Network((base, prefix), strict=False)
    spec = parse_host_spec(str(net))
    assert spec.count == sum(1 for _ in spec)
