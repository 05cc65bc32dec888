"""Which ports the responder listens on: a list typed on the command line
(``tcp/8014,tcp/443,udp/514``), or every port the catalogue says a role receives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sepcheck.errors import UsageError
from sepcheck.model import Expect, Protocol, Role, Scope

if TYPE_CHECKING:
    # Types only: importing them loads pydantic, which parsing --ports does not need.
    from sepcheck.catalogue import Catalogue, Entry
    from sepcheck.topology import Topology

_ITEM = re.compile(r"^(?P<protocol>[a-z]+)/(?P<port>[0-9]+)$")
_EXAMPLE = "e.g. --ports tcp/8014,tcp/443,udp/514"


@dataclass(frozen=True, order=True)
class PortSpec:
    protocol: Protocol
    port: int
    """1-65535; 0 only in tests (the kernel chooses, see ``sockets.bind_ports``)."""

    def __str__(self) -> str:
        return f"{self.protocol.value}/{self.port}"


def parse_ports(text: str) -> tuple[PortSpec, ...]:
    """The ports of ``--ports``, in the order given. Strict: every item is PROTOCOL/PORT,
    no empty item, no port listed twice, so that a typo never silently listens on less."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip():
        raise UsageError("--ports: no port given", hint=_EXAMPLE)
    found: list[PortSpec] = []
    for item in items:
        spec = _parse_item(item)
        if spec in found:
            raise UsageError(f"--ports: {spec} is listed twice", hint="list each port once")
        found.append(spec)
    return tuple(found)


def _parse_item(item: str) -> PortSpec:
    if not item:
        raise UsageError(
            "--ports: empty item (two commas in a row, or one at an end)", hint=_EXAMPLE
        )
    match = _ITEM.match(item.lower())
    if match is None:
        raise UsageError(f"--ports: {item!r} is not PROTOCOL/PORT", hint=_EXAMPLE)
    try:
        protocol = Protocol(match["protocol"])
    except ValueError:
        raise UsageError(
            f"--ports: {item!r}: unknown protocol {match['protocol']!r}",
            hint="the protocol is tcp or udp",
        ) from None
    digits = match["port"]
    port = int(digits)
    if not 1 <= port <= 65535 or (len(digits) > 1 and digits.startswith("0")):
        raise UsageError(f"--ports: {item!r}: no such port", hint="a port is 1 to 65535")
    return PortSpec(protocol, port)


def role_ports(catalogue: Catalogue, topology: Topology, role: Role) -> tuple[PortSpec, ...]:
    """Every port ``role`` receives on this site: the catalogue's network flows toward it
    (and toward the roles it implies: a GUP is also a client) that must be reachable, apply
    to the site's version and features and are not skipped, each after the topology's
    port overrides. Must-not-reach flows are left out: the responder does not open ports
    that should stay closed. Sorted, each port once."""
    roles = {role, *catalogue.implied_roles([role])}
    found = {
        PortSpec(entry.protocol, topology.port_for(entry))
        for entry in catalogue
        if entry.destination in roles and _received(entry, topology)
    }
    return tuple(sorted(found))


def _received(entry: Entry, topology: Topology) -> bool:
    return (
        entry.expect is Expect.REACHABLE
        and entry.scope is Scope.NETWORK
        and entry.id not in topology.skip
        and entry.applies_to(topology.sep_version)
        and (entry.feature is None or entry.feature in topology.features)
    )
