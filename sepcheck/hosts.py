"""Host specifications from the topology, expanded lazily.

A role's ``hosts`` holds host names, IPv4/IPv6 literals, CIDR blocks and address ranges;
``host_files`` names files with one such spec per line. A spec knows how many targets it
holds without building them, so a /16 of clients costs a few objects until the plan walks
it, and a block larger than the safe limit is refused before anything is probed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sepcheck.tomlsrc import file_kind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SAFE_BLOCK_LIMIT = 4096
"""Largest block (addresses) accepted without --allow-large-ranges: a /20 of clients."""
HARD_BLOCK_LIMIT = 1 << 24
"""Largest block accepted at all, even with the flag: a /8."""

_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_DOTTED_RE = re.compile(r"^[0-9.]+$")
_BRACKETED_RE = re.compile(r"^\[([^\]]*)\](?::(\d*))?$")

MAX_LINE = 4096
"""Longest line read from a hosts file: a host is at most 253 characters, and the limit
keeps a file without newlines (a wrong path) from being read whole into memory."""


@dataclass(frozen=True)
class Target:
    """One destination of the plan."""

    host: str
    """The host as the user wrote it, or the address when it came from a block or range."""
    address: str | None
    """IP literal to probe; None for a name that is resolved at probe time."""
    spec: str
    """The topology text this target came from (``198.18.1.0/28``, ``sepm01``)."""


def _targets(version: int, first: int, last: int, spec: str) -> Iterator[Target]:
    """Addresses first..last as targets. inet_ntop is several times cheaper than building
    ipaddress objects, and a plan over a /16 walks 65,534 of them per flow."""
    family, size = (socket.AF_INET, 4) if version == 4 else (socket.AF_INET6, 16)
    ntop = socket.inet_ntop
    for value in range(first, last + 1):
        text = ntop(family, value.to_bytes(size, "big"))
        yield Target(text, text, spec)


class HostSpec(ABC):
    """One item of a role's host list."""

    text: str

    @property
    @abstractmethod
    def count(self) -> int:
        """How many targets iterating yields, computed without iterating."""

    @abstractmethod
    def __iter__(self) -> Iterator[Target]: ...

    @abstractmethod
    def contains(self, address: IPAddress) -> bool:
        """True when ``address`` is one of this spec's targets (names never match)."""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class NameSpec(HostSpec):
    text: str

    @property
    def count(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Target]:
        yield Target(self.text, None, self.text)

    def contains(self, address: IPAddress) -> bool:
        return False


@dataclass(frozen=True)
class AddressSpec(HostSpec):
    text: str
    address: IPAddress

    @property
    def count(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Target]:
        yield Target(self.text, str(self.address), self.text)

    def contains(self, address: IPAddress) -> bool:
        return address == self.address


@dataclass(frozen=True)
class NetworkSpec(HostSpec):
    """A CIDR block; like ``ipaddress``'s ``hosts()``, it leaves out the IPv4 network and
    broadcast addresses (and the IPv6 subnet-router anycast address) of blocks large
    enough to have them, since no client lives there."""

    text: str
    network: IPNetwork

    @property
    def count(self) -> int:
        n = self.network.num_addresses
        if self.network.version == 4:
            return n if self.network.prefixlen >= 31 else n - 2
        return n if self.network.prefixlen >= 127 else n - 1

    def __iter__(self) -> Iterator[Target]:
        network = self.network
        first, last = int(network.network_address), int(network.broadcast_address)
        if network.version == 4 and network.prefixlen < 31:
            first, last = first + 1, last - 1
        elif network.version == 6 and network.prefixlen < 127:
            first += 1
        yield from _targets(network.version, first, last, self.text)

    def contains(self, address: IPAddress) -> bool:
        return address.version == self.network.version and address in self.network


@dataclass(frozen=True)
class RangeSpec(HostSpec):
    """An inclusive range ``first-last`` of addresses of one family."""

    text: str
    first: IPAddress
    last: IPAddress

    @property
    def count(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __iter__(self) -> Iterator[Target]:
        yield from _targets(self.first.version, int(self.first), int(self.last), self.text)

    def contains(self, address: IPAddress) -> bool:
        return address.version == self.first.version and int(self.first) <= int(address) <= int(
            self.last
        )


class HostSpecError(ValueError):
    """A host spec that cannot be read; the message says why, the hint how to write it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _parse_address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        family = "IPv6" if ":" in text else "IPv4"
        raise HostSpecError(
            f"{text!r} is not a valid {family} address"
            + (" (each of the four numbers must be 0-255)" if family == "IPv4" else "")
        ) from None


def _parse_range(text: str) -> RangeSpec:
    left, _, right = text.partition("-")
    first = _parse_address(left.strip())
    right = right.strip()
    if first.version == 4 and right.isdigit():
        # Short form 198.18.3.5-9: the end replaces the last number only.
        if int(right) > 255:
            raise HostSpecError(f"range {text!r}: last number {right} is over 255")
        last: IPAddress = ipaddress.IPv4Address((int(first) & ~0xFF) | int(right))
    else:
        last = _parse_address(right)
    if last.version != first.version:
        raise HostSpecError(f"range {text!r} mixes IPv4 and IPv6")
    if int(last) < int(first):
        raise HostSpecError(f"range {text!r} ends before it starts (write the lower address first)")
    return RangeSpec(text, first, last)


def _looks_like_range(text: str) -> bool:
    left, sep, right = text.partition("-")
    if not sep:
        return False
    return bool(_DOTTED_RE.match(left.strip()) or ":" in left) and bool(
        _DOTTED_RE.match(right.strip()) or ":" in right
    )


def parse_host_spec(
    text: str, *, allow_large: bool = False, limit: int = SAFE_BLOCK_LIMIT
) -> HostSpec:
    """Parse one host spec; raise HostSpecError with a readable message."""
    raw = text.strip()
    if not raw:
        raise HostSpecError("empty host (write a name, an address, a CIDR block or a range)")
    _refuse_decorations(raw)
    spec: HostSpec
    if "/" in raw:
        spec = NetworkSpec(raw, _parse_network(raw, allow_large, limit))
    elif _looks_like_range(raw):
        spec = _parse_range(raw)
    elif ":" in raw or _DOTTED_RE.match(raw):
        spec = AddressSpec(raw, _parse_address(raw))
    else:
        spec = NameSpec(_check_name(raw))
    _check_size(spec, allow_large, limit)
    return spec


def _refuse_decorations(raw: str) -> None:
    """Refuse what people add to a host out of habit (a URL, a port, brackets, a zone),
    which would otherwise read as a broken IPv6 address, or, for a zone, be accepted and
    make every probe of the address fail locally."""
    if "://" in raw:
        raise HostSpecError(
            f"{raw!r} is a URL, not a host",
            hint="write the host name or address alone; ports go in [ports], by entry id",
        )
    bracketed = _BRACKETED_RE.match(raw)
    host, port = (bracketed.group(1), bracketed.group(2)) if bracketed else (raw, None)
    if not bracketed and raw.count(":") == 1:
        # One colon is never an IPv6 address (those have two or more): HOST:PORT.
        left, _, right = raw.partition(":")
        if right.isdigit():
            host, port = left, right
    if port:
        raise HostSpecError(
            f"{raw!r} has a port (:{port}); a host is a name or an address alone",
            hint=f"write {host!r}, and set the port in [ports], by entry id: "
            f"ENTRY-ID = {port} (`sepcheck catalogue` lists the ids)",
        )
    if bracketed:
        raise HostSpecError(
            f"{raw!r}: an IPv6 address is written without brackets here",
            hint=f"write {host!r}",
        )
    if "%" in raw:
        address, _, zone = raw.partition("%")
        zone, slash, prefix = zone.partition("/")  # fe80::%eth0/64: the zone sits before /
        try:
            link_local = ipaddress.ip_address(address).is_link_local
        except ValueError:
            link_local = False
        raise HostSpecError(
            f"{raw!r} has a zone id (%{zone}); sepcheck probes addresses, not interfaces",
            hint="a link-local address needs its interface: give the host's global or "
            "unique-local (fd00::/8) address instead"
            if link_local
            else f"write {address + slash + prefix!r}",
        )


def _parse_network(raw: str, allow_large: bool, limit: int) -> IPNetwork:
    try:
        return ipaddress.ip_network(raw, strict=True)
    except ValueError:
        pass
    try:
        block = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise HostSpecError(
            f"{raw!r} is not a valid CIDR block (write e.g. 198.18.1.0/24 or fd00:18::/120)"
        ) from None
    # Only host bits set is left: 127.0.0.1/24 used to be read silently as 127.0.0.0/24,
    # 256 addresses where the user may have meant one.
    address = raw.partition("/")[0].strip()
    hint = f"write {str(block)!r} for the block, or {address!r} for the single address"
    try:
        _check_size(NetworkSpec(str(block), block), allow_large, limit)
    except HostSpecError as exc:
        hint += f"; as a block, {exc}"  # say it now, not after the user fixes the bits
    raise HostSpecError(f"{raw!r} has host bits set: as a block it means {block}", hint=hint)


def _check_name(name: str) -> str:
    host = name[:-1] if name.endswith(".") else name
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise HostSpecError(
            f"{name!r} is not a valid host name, address, CIDR block or range "
            "(names use letters, digits and '-', in labels of 1-63 characters)"
        )
    if labels[-1].isdigit():
        raise HostSpecError(f"{name!r} is neither a valid IPv4 address nor a host name")
    return name


def _check_size(spec: HostSpec, allow_large: bool, limit: int) -> None:
    count = spec.count
    if count > HARD_BLOCK_LIMIT:
        raise HostSpecError(
            f"{spec.text!r} holds {count:,} addresses, more than sepcheck ever probes in one "
            f"block ({HARD_BLOCK_LIMIT:,}); list the subnets that really hold clients"
        )
    if count > limit and not allow_large:
        raise HostSpecError(
            f"{spec.text!r} holds {count:,} addresses, more than the safe limit of "
            f"{limit:,}; pass --allow-large-ranges to probe it, or list smaller blocks"
        )


@dataclass(frozen=True)
class FileSpec(HostSpec):
    """A hosts file, one spec per line (``#`` starts a comment). It is validated once at
    load time and read again, line by line, each time the plan walks it."""

    text: str
    path: Path
    total: int
    allow_large: bool = False
    limit: int = SAFE_BLOCK_LIMIT
    v6_total: int = 0
    """How many of the file's targets are IPv6 addresses (for IPv4-only protocols)."""

    @property
    def count(self) -> int:
        return self.total

    def specs(self) -> Iterator[HostSpec]:
        for _, spec in iter_host_file(self.path, allow_large=self.allow_large, limit=self.limit):
            yield spec

    def __iter__(self) -> Iterator[Target]:
        for spec in self.specs():
            yield from spec

    def contains(self, address: IPAddress) -> bool:
        return any(spec.contains(address) for spec in self.specs())


def iter_host_file(
    path: Path, *, allow_large: bool = False, limit: int = SAFE_BLOCK_LIMIT
) -> Iterator[tuple[int, HostSpec]]:
    """Yield (line number, spec) for each non-empty line; HostFileError names the line,
    HostFileUnreadable says why the file cannot be read as text. Other OSErrors (the file
    is missing, unreadable) pass through."""
    kind = file_kind(path.stat().st_mode)
    if kind is not None:
        # Refused before open(): opening a FIFO blocks until a writer comes.
        raise HostFileUnreadable(
            f"is {kind}, not a regular file", hint="name a text file with one host per line"
        )
    # utf-8-sig drops the byte-order mark Windows Notepad puts first, which would otherwise
    # be read as part of the first host.
    with path.open(encoding="utf-8-sig") as handle:
        number = 0
        while True:
            try:
                line = handle.readline(MAX_LINE + 1)
            except UnicodeDecodeError:
                raise HostFileUnreadable(
                    "is not UTF-8 text",
                    hint="a hosts file is text: one host, address, CIDR block or range per "
                    "line, saved as UTF-8",
                ) from None
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE and not line.endswith("\n"):
                raise HostFileError(f"line longer than {MAX_LINE:,} characters", number)
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            try:
                spec = parse_host_spec(content, allow_large=allow_large, limit=limit)
            except HostSpecError as exc:
                raise HostFileError(str(exc), number, exc.hint) from None
            yield number, spec


class HostFileError(HostSpecError):
    """A bad line in a hosts file."""

    def __init__(self, message: str, line: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.line = line


class HostFileUnreadable(HostSpecError):
    """A hosts file that is not text to read: a FIFO, a device, binary data. The message
    is a predicate: "is not UTF-8 text"."""
