"""Reading one host spec as the user wrote it, with the size limits.

Every refusal says why and, where it can, how to write the host instead: people paste
URLs, ``HOST:PORT``, bracketed or zoned IPv6 addresses and blocks with host bits set, and
each of those would otherwise be read as something else or fail only at probe time. A
block larger than the safe limit is refused here, before anything is probed.
"""

from __future__ import annotations

import ipaddress
import re

from sepcheck.hosts.specs import (
    AddressSpec,
    HostSpec,
    IPAddress,
    IPNetwork,
    NameSpec,
    NetworkSpec,
    RangeSpec,
)

SAFE_BLOCK_LIMIT = 4096
"""Largest block (addresses) accepted without --allow-large-ranges: a /20 of clients."""
HARD_BLOCK_LIMIT = 1 << 24
"""Largest block accepted at all, even with the flag: a /8."""

_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_DOTTED_RE = re.compile(r"^[0-9.]+$")
_BRACKETED_RE = re.compile(r"^\[([^\]]*)\](?::(\d*))?$")


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
