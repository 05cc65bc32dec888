"""Host spec values and their lazy expansion into targets.

A spec (a name, an address, a CIDR block, a range) knows how many targets it holds without
building them, so a /16 of clients costs one object until the plan walks it; walking it
yields one ``Target`` per address, built as cheaply as Python allows.
"""

from __future__ import annotations

import ipaddress
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
