"""What the plan asks of host specs: their identity, their IP version, their IPv4 part.

Two specs written differently can be the same targets (``SEPM01`` and ``sepm01.``), and a
host listed for two roles is still one host: ``spec_key`` is what dedupes them, within a
flow and across flows that share a port. IPv4-only protocols (NetBIOS) need the IPv4 part
of a spec, which for a hosts file is known only line by line (``IPv4Part``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address

from sepcheck.hosts import (
    AddressSpec,
    FileSpec,
    HostSpec,
    IPAddress,
    NameSpec,
    NetworkSpec,
    RangeSpec,
    Target,
)

LOOPBACK = AddressSpec("127.0.0.1", ip_address("127.0.0.1"))
"""The one target of a local-scope entry: the host itself."""


def spec_version(spec: HostSpec) -> int | None:
    """The IP version of a spec's addresses; None for names and files (mixed)."""
    if isinstance(spec, AddressSpec):
        return spec.address.version
    if isinstance(spec, NetworkSpec):
        return spec.network.version
    if isinstance(spec, RangeSpec):
        return spec.first.version
    return None


def spec_key(spec: HostSpec) -> tuple[object, ...]:
    """What makes two specs the same targets, however they were written."""
    if isinstance(spec, AddressSpec):
        return ("address", spec.address)
    if isinstance(spec, NameSpec):
        return ("name", spec.text.lower().rstrip("."))
    if isinstance(spec, NetworkSpec):
        return ("network", spec.network)
    if isinstance(spec, RangeSpec):
        return ("range", spec.first, spec.last)
    if isinstance(spec, FileSpec):
        return ("file", spec.path)
    return ("other", spec.text)


@dataclass(frozen=True)
class IPv4Part(HostSpec):
    """The IPv4 addresses and names of a hosts file (for IPv4-only protocols)."""

    inner: FileSpec

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.inner.text

    @property
    def count(self) -> int:
        return self.inner.count - self.inner.v6_total

    def __iter__(self) -> Iterator[Target]:
        return (t for t in self.inner if t.address is None or ":" not in t.address)

    def contains(self, address: IPAddress) -> bool:
        return address.version == 4 and self.inner.contains(address)
