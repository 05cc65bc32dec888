"""The plan: catalogue x topology x vantage -> the probes this host should send.

Pure and lazy: ``Plan.probes()`` walks host specs as it goes, so a /16 of clients is never
held in memory, and ``Plan.total`` is known before anything is walked. Entries that are
not planned are kept with the reason (wrong version, feature off, no hosts for the role,
skipped by the user), so the user sees why a flow is missing, and required flows with no
destination hosts are reported as gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address

from sepcheck.catalogue import Catalogue, Entry
from sepcheck.hosts import AddressSpec, HostSpec, IPAddress, NameSpec
from sepcheck.model import Expect, Protocol, Role, Scope, Severity
from sepcheck.topology import Topology

LOOPBACK = AddressSpec("127.0.0.1", ip_address("127.0.0.1"))


@dataclass(frozen=True)
class Probe:
    """One probe to send: a flow toward one destination address or name."""

    flow: str
    source: Role
    destination: Role
    host: str
    address: str | None
    spec: str
    protocol: Protocol
    port: int
    expect: Expect
    severity: Severity


class SkipReason(StrEnum):
    VERSION = "version"
    SKIPPED = "skipped"
    FEATURE = "feature"
    NO_HOSTS = "no-hosts"
    GAP = "gap"


@dataclass(frozen=True)
class Skipped:
    """An entry this vantage would send but does not, and why."""

    entry: Entry
    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class FlowPlan:
    """An entry that is planned, toward these host specs, on this port."""

    entry: Entry
    port: int
    specs: tuple[HostSpec, ...]

    @property
    def count(self) -> int:
        return sum(spec.count for spec in self.specs)

    def probes(self) -> Iterator[Probe]:
        entry = self.entry
        for spec in self.specs:
            for target in spec:
                yield Probe(
                    flow=entry.id,
                    source=entry.source,
                    destination=entry.destination,
                    host=target.host,
                    address=target.address,
                    spec=target.spec,
                    protocol=entry.protocol,
                    port=self.port,
                    expect=entry.expect,
                    severity=entry.severity,
                )


@dataclass(frozen=True)
class Vantage:
    """The roles of the host that runs sepcheck, and how they were found."""

    roles: tuple[Role, ...]
    inferred: bool = False
    evidence: str = ""
    """For inferred roles: which local address or name matched which role."""


@dataclass(frozen=True)
class Plan:
    vantage: Vantage
    flows: tuple[FlowPlan, ...]
    skipped: tuple[Skipped, ...]

    @property
    def total(self) -> int:
        return sum(flow.count for flow in self.flows)

    @property
    def gaps(self) -> tuple[Skipped, ...]:
        return tuple(s for s in self.skipped if s.reason is SkipReason.GAP)

    def probes(self) -> Iterator[Probe]:
        """Flow by flow, host by host: the order people read."""
        for flow in self.flows:
            yield from flow.probes()


def build_plan(catalogue: Catalogue, topology: Topology, vantage: Vantage) -> Plan:
    """Every entry whose source is one of the vantage's roles, planned or explained."""
    flows: list[FlowPlan] = []
    skipped: list[Skipped] = []
    for entry in catalogue:
        if entry.source not in vantage.roles:
            continue
        reason = _skip_reason(entry, topology)
        if reason is not None:
            skipped.append(reason)
            continue
        specs = (LOOPBACK,) if entry.scope is Scope.LOCAL else topology.hosts(entry.destination)
        flows.append(FlowPlan(entry, topology.port_for(entry), specs))
    return Plan(vantage, tuple(flows), tuple(skipped))


def _skip_reason(entry: Entry, topology: Topology) -> Skipped | None:
    if entry.id in topology.skip:
        return Skipped(entry, SkipReason.SKIPPED, "listed in flows.skip")
    if not entry.applies_to(topology.sep_version):
        return Skipped(
            entry,
            SkipReason.VERSION,
            f"applies to {entry.versions}, not to {topology.sep_version}",
        )
    if entry.feature is not None and entry.feature not in topology.features:
        return Skipped(entry, SkipReason.FEATURE, f"feature {entry.feature} is not enabled")
    if entry.scope is Scope.NETWORK and not topology.hosts(entry.destination):
        if entry.optional:
            return Skipped(entry, SkipReason.NO_HOSTS, f"no {entry.destination} hosts (optional)")
        return Skipped(
            entry,
            SkipReason.GAP,
            f"no {entry.destination} hosts in the topology: this required flow is not checked",
        )
    return None


def infer_vantage(
    topology: Topology, addresses: Iterable[IPAddress], names: Iterable[str]
) -> Vantage | None:
    """Roles whose hosts include one of this host's addresses or names, or None."""
    addresses = [a for a in addresses if not a.is_loopback and not a.is_link_local]
    lowered = {n.lower().rstrip(".") for n in names if n}
    found: dict[Role, str] = {}
    for role in Role:
        for spec in topology.hosts(role):
            if isinstance(spec, NameSpec) and spec.text.lower().rstrip(".") in lowered:
                found[role] = f"name {spec.text}"
                break
            match = next((a for a in addresses if spec.contains(a)), None)
            if match is not None:
                found[role] = f"address {match} in {spec.text}"
                break
    if not found:
        return None
    evidence = "; ".join(f"{role.value} ({why})" for role, why in found.items())
    return Vantage(tuple(found), inferred=True, evidence=evidence)
