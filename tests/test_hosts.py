from __future__ import annotations

import ipaddress
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sepcheck.hosts import (
    MAX_LINE,
    AddressSpec,
    FileSpec,
    HostFileError,
    HostFileUnreadable,
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


@pytest.mark.parametrize(
    ("text", "words", "hint"),
    [
        ("127.0.0.1:8443", "has a port (:8443)", "[ports], by entry id"),
        ("sepm01.example.test:8014", "has a port (:8014)", "write 'sepm01.example.test'"),
        ("[fd00:18::5]:443", "has a port (:443)", "write 'fd00:18::5'"),
        ("[fd00:18::5]", "without brackets", "write 'fd00:18::5'"),
        ("https://sepm01:8443", "is a URL", "[ports], by entry id"),
        ("::1%lo", "has a zone id (%lo)", "write '::1'"),
        ("fe80::1%eth0", "has a zone id (%eth0)", "unique-local (fd00::/8) address"),
        ("fe80::%eth0/64", "has a zone id (%eth0)", "unique-local"),
        ("127.0.0.1/24", "as a block it means 127.0.0.0/24", "or '127.0.0.1' for the single"),
        ("fd00:18::5/120", "as a block it means fd00:18::/120", "write 'fd00:18::/120'"),
        ("198.18.16.0/12", "means 198.16.0.0/12", "--allow-large-ranges"),
    ],
)
def test_habits_from_urls_and_routers_are_refused_with_a_hint(
    text: str, words: str, hint: str
) -> None:
    """A port, brackets, a zone id or host bits used to read as a broken IPv6 address, or,
    for zones and host bits, to be accepted as something else than the user meant."""
    with pytest.raises(HostSpecError) as info:
        parse_host_spec(text)
    assert words in str(info.value)
    assert info.value.hint is not None
    assert hint in info.value.hint


def test_ipv6_addresses_are_not_mistaken_for_a_host_and_port() -> None:
    assert isinstance(parse_host_spec("fd00::8443"), AddressSpec)
    assert isinstance(parse_host_spec("fd00:18::/120"), NetworkSpec)
    assert isinstance(parse_host_spec("fd00::1-fd00::10"), RangeSpec)


def test_host_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "clients.txt"
    path.write_text("198.18.1.1\nwks01\n", encoding="utf-8-sig")  # as Windows Notepad saves
    assert [spec.text for _, spec in iter_host_file(path)] == ["198.18.1.1", "wks01"]


def test_host_file_that_is_not_text_or_not_a_file(tmp_path: Path) -> None:
    png = tmp_path / "logo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(HostFileUnreadable, match="is not UTF-8 text") as info:
        list(iter_host_file(png))
    assert info.value.hint is not None
    assert "one host" in info.value.hint
    with pytest.raises(HostFileUnreadable, match="is a character device, not a regular file"):
        list(iter_host_file(Path("/dev/null")))
    with pytest.raises(HostFileUnreadable, match="is a folder"):
        list(iter_host_file(tmp_path))


def test_host_file_line_too_long(tmp_path: Path) -> None:
    path = tmp_path / "clients.txt"
    path.write_text("198.18.1.1\n" + "#" * MAX_LINE + "\n" + "x" * (MAX_LINE + 1) + "\n")
    with pytest.raises(HostFileError, match="longer than") as info:
        list(iter_host_file(path))
    assert info.value.line == 3


@pytest.mark.parametrize("text", ["wks01.2024", "sepm01.example.10"])
def test_a_name_whose_last_label_is_a_number_is_refused(text: str) -> None:
    """No top-level domain is all digits (RFC 3696): such a name is a mistyped address or
    host, refused now rather than reported unresolved after the run."""
    with pytest.raises(HostSpecError) as info:
        parse_host_spec(text)
    assert str(info.value) == f"{text!r} is neither a valid IPv4 address nor a host name"
