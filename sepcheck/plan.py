"""The plan: catalogue x topology x vantage -> the probes this host should send.

Pure and lazy: ``Plan.probes()`` walks host specs as it goes, so a /16 of clients is never
held in memory, and ``Plan.total`` is known before anything is walked. Entries that are
not planned are kept with the reason (wrong version, feature off, no hosts for the role,
skipped by the user), so the user sees why a flow is missing, and required flows with no
destination hosts are reported as gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import ip_address

from sepcheck.catalogue import Catalogue, Entry
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
    group: str | None = None
    """Group of alternatives the flow belongs to (one member working is enough)."""
    also: tuple[str, ...] = ()
    """Other flows that need this same (address, protocol, port): probed once, judged for
    each of them."""
    ipv4_only: bool = False
    """A name is resolved to IPv4 only (NetBIOS over TCP/IP has no IPv6 form)."""

    @property
    def ttl(self) -> int | None:
        """TTL (IPv6: hop limit) to send with; None: the system's default. Plan probes
        always use the default; `sepcheck trace` sends its own probes with rising TTLs."""
        return None


class SkipReason(StrEnum):
    VERSION = "version"
    SKIPPED = "skipped"
    FEATURE = "feature"
    SETTING = "setting"
    PROXY = "proxy"
    UNUSED = "unused"
    CONTRADICTED = "contradicted"
    IPV4_ONLY = "ipv4-only"
    OS = "os"
    NO_HOSTS = "no-hosts"
    GAP = "gap"


@dataclass(frozen=True)
class Skipped:
    """An entry this vantage would send but does not (or not to every host), and why."""

    entry: Entry
    reason: SkipReason
    detail: str


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


@dataclass(frozen=True)
class FlowPlan:
    """An entry that is planned, toward these host specs, on this port."""

    entry: Entry
    port: int
    specs: tuple[HostSpec, ...]
    group: str | None = None
    """The group of alternatives it is judged with (when another member is planned)."""

    @property
    def count(self) -> int:
        return sum(spec.count for spec in self.specs)

    def probes(self, spec: HostSpec | None = None, also: tuple[str, ...] = ()) -> Iterator[Probe]:
        """Probes toward every spec (or only ``spec``), judged also for ``also``."""
        entry = self.entry
        for item in self.specs if spec is None else (spec,):
            for target in item:
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
                    group=self.group,
                    also=also,
                    ipv4_only=entry.ipv4_only,
                )


@dataclass(frozen=True)
class Vantage:
    """The roles of the host that runs sepcheck, and how they were found."""

    roles: tuple[Role, ...]
    inferred: bool = False
    evidence: str = ""
    """For inferred roles: which local address or name matched which role."""
    implied: tuple[tuple[Role, Role, str], ...] = ()
    """Roles the given ones bring with them: (implied role, by role, why)."""

    @property
    def all_roles(self) -> tuple[Role, ...]:
        return (*self.roles, *(role for role, _, _ in self.implied))


ProbeKey = tuple[Protocol, int, tuple[object, ...]]


@dataclass(frozen=True)
class GroupPlan:
    """A group of alternatives as planned for this vantage."""

    description: str
    members: tuple[str, ...]
    """Planned member flows, in catalogue order."""


@dataclass(frozen=True)
class Plan:
    vantage: Vantage
    flows: tuple[FlowPlan, ...]
    skipped: tuple[Skipped, ...]
    groups: dict[str, GroupPlan] = field(default_factory=dict)
    """Groups of alternatives with planned members, by name."""
    notes: tuple[str, ...] = ()
    """What the plan decided for the whole site (implied roles, settings and defaults)."""

    @property
    def total(self) -> int:
        """Probes sent: a target that several flows need is probed once."""
        seen: set[ProbeKey] = set()
        total = 0
        for flow in self.flows:
            for spec in flow.specs:
                key = (flow.entry.protocol, flow.port, spec_key(spec))
                if key not in seen:
                    seen.add(key)
                    total += spec.count
        return total

    @property
    def gaps(self) -> tuple[Skipped, ...]:
        return tuple(s for s in self.skipped if s.reason is SkipReason.GAP)

    def sharing(self) -> dict[ProbeKey, list[FlowPlan]]:
        """Flows by the (protocol, port, targets) they probe, in plan order."""
        shared: dict[ProbeKey, list[FlowPlan]] = {}
        for flow in self.flows:
            for spec in flow.specs:
                key = (flow.entry.protocol, flow.port, spec_key(spec))
                flows = shared.setdefault(key, [])
                if flow not in flows:
                    flows.append(flow)
        return shared

    def probes(self) -> Iterator[Probe]:
        """Flow by flow, host by host (the order people read); a target several flows
        need is probed once, carrying the others in ``Probe.also``."""
        shared = self.sharing()
        done: set[ProbeKey] = set()
        for flow in self.flows:
            for spec in flow.specs:
                key = (flow.entry.protocol, flow.port, spec_key(spec))
                if key in done:
                    continue
                done.add(key)
                also = tuple(f.entry.id for f in shared[key] if f is not flow)
                yield from flow.probes(spec, also)


@dataclass
class _Builder:
    """The state of one build_plan call."""

    catalogue: Catalogue
    topology: Topology
    vantage: Vantage
    flows: list[FlowPlan] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    proxied: dict[str, list[str]] = field(default_factory=dict)
    """Proxy entry id -> the flows that go through it."""

    def choose(self) -> None:
        """Which members of each group the site uses: its setting, or the default for its
        version (said in the plan's notes)."""
        version = self.topology.sep_version
        for name, group in self.catalogue.groups.items():
            if group.setting is None:
                continue
            given = self.topology.settings.get(group.setting)
            if given is not None:
                self.choices[name] = given
                continue
            default = group.default_choice(version)
            if default is None:
                continue
            self.choices[name] = default.choose
            if any(e.group == name and e.source in self.vantage.all_roles for e in self.catalogue):
                self.notes.append(
                    f"{group.setting} not set: {', '.join(default.choose)} "
                    f"(default for {version or 'any version'}: {default.why})"
                )

    def skip_reason(self, entry: Entry) -> Skipped | None:
        topology = self.topology
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
        chosen = self.choices.get(entry.group or "")
        if entry.choice is not None and chosen is not None and entry.choice not in chosen:
            setting = self.catalogue.groups[entry.group or ""].setting
            return Skipped(
                entry,
                SkipReason.SETTING,
                f"{setting} names {', '.join(chosen)}, not {entry.choice}",
            )
        if (
            entry.via_proxy is not None
            and topology.hosts(Role.PROXY)
            and topology.hosts(entry.destination)
        ):
            self.proxied.setdefault(entry.via_proxy, []).append(entry.id)
            return Skipped(
                entry,
                SkipReason.PROXY,
                f"goes through the site's proxy: checked as {entry.via_proxy}",
            )
        return None

    def destinations(self, entry: Entry) -> tuple[HostSpec, ...] | Skipped:
        """The specs the entry probes, or why it probes none."""
        if entry.scope is Scope.LOCAL:
            return (LOOPBACK,)
        role = entry.destination
        roles = (role, *self.catalogue.implying(role))
        specs: list[HostSpec] = []
        keys: set[tuple[object, ...]] = set()
        for each in roles:
            for spec in self.topology.hosts(each, entry.target_os):
                if spec_key(spec) not in keys:  # a host listed twice is probed once
                    keys.add(spec_key(spec))
                    specs.append(spec)
        if not specs:
            return self._no_hosts(entry, roles)
        if entry.target_os is not None:
            self._other_os(entry, roles)
        if entry.ipv4_only:
            return self._ipv4_part(entry, specs)
        return tuple(specs)

    def _other_os(self, entry: Entry, roles: tuple[Role, ...]) -> None:
        """Say which host groups an OS-bound flow leaves out because of their os tag."""
        assert entry.target_os is not None
        left_out = [
            f"{group.description or ', '.join(s.text for s in group.specs)} (os {group.os})"
            for role in roles
            for group in self.topology.groups.get(role, ())
            if group.os is not None and not group.runs(entry.target_os)
        ]
        if left_out:
            self.skipped.append(
                Skipped(
                    entry,
                    SkipReason.OS,
                    f"for {entry.target_os} hosts: not planned to " + "; ".join(left_out),
                )
            )

    def _no_hosts(self, entry: Entry, roles: tuple[Role, ...]) -> Skipped:
        role = entry.destination
        if entry.target_os is not None and any(self.topology.hosts(r) for r in roles):
            what = (
                f'no {role} host group is tagged os = "{entry.target_os}" (write os = '
                f'"{entry.target_os}" in the [[roles.{role}]] table of those hosts)'
            )
        else:
            what = f"no {role} hosts in the topology"
        if entry.optional:
            return Skipped(entry, SkipReason.NO_HOSTS, f"{what} (optional)")
        kind = "required" if entry.expect is Expect.REACHABLE else "must-not-reach"
        return Skipped(entry, SkipReason.GAP, f"{what}: this {kind} flow is not checked")

    def _ipv4_part(self, entry: Entry, specs: list[HostSpec]) -> tuple[HostSpec, ...] | Skipped:
        kept: list[HostSpec] = []
        left_out: list[str] = []
        for spec in specs:
            if spec_version(spec) == 6:
                left_out.append(spec.text)
            elif isinstance(spec, FileSpec) and spec.v6_total:
                kept.append(IPv4Part(spec))
                left_out.append(f"the {spec.v6_total:,} IPv6 addresses of {spec.text}")
            else:
                kept.append(spec)
        if left_out:
            self.skipped.append(
                Skipped(
                    entry,
                    SkipReason.IPV4_ONLY,
                    "NetBIOS over TCP/IP is IPv4 only (RFC 1001/1002): not planned to "
                    + ", ".join(left_out),
                )
            )
        if not kept:
            self.skipped.pop()
            return Skipped(
                entry,
                SkipReason.IPV4_ONLY,
                "NetBIOS over TCP/IP is IPv4 only (RFC 1001/1002) and every "
                f"{entry.destination} host is IPv6: " + ", ".join(left_out),
            )
        return tuple(kept)

    def contradictions(self) -> None:
        """Across a vantage's roles a port is never both required and must-not-reach: the
        required side wins (an admin workstation is a client and a remote console)."""
        required = {
            (f.entry.destination, f.entry.protocol, f.port): f.entry
            for f in self.flows
            if f.entry.expect is Expect.REACHABLE
        }
        kept: list[FlowPlan] = []
        for flow in self.flows:
            entry = flow.entry
            winner = required.get((entry.destination, entry.protocol, flow.port))
            if entry.expect is not Expect.UNREACHABLE:
                kept.append(flow)
            elif winner is not None:
                self.skipped.append(
                    Skipped(
                        entry,
                        SkipReason.CONTRADICTED,
                        f"this host is also {winner.source}, which must reach "
                        f"{entry.protocol}/{flow.port} ({winner.id}): the required flow wins",
                    )
                )
            elif entry.destination in self.vantage.all_roles:
                # A manager that is also a client would probe its own console ports.
                self.skipped.append(
                    Skipped(
                        entry,
                        SkipReason.CONTRADICTED,
                        f"this host is itself a {entry.destination}: whether its "
                        f"{entry.protocol}/{flow.port} is exposed is checked from other hosts",
                    )
                )
            else:
                kept.append(flow)
        self.flows = kept


def build_plan(catalogue: Catalogue, topology: Topology, vantage: Vantage) -> Plan:
    """Every entry whose source is one of the vantage's roles (and the roles they imply),
    planned or explained."""
    implied = catalogue.implied_roles(vantage.roles)
    vantage = replace(
        vantage,
        implied=tuple((role, by, catalogue.roles[by].why) for role, by in implied.items()),
    )
    builder = _Builder(catalogue, topology, vantage)
    for role, by, why in vantage.implied:
        builder.notes.append(f"also {role}: implied by {by} ({why})")
    builder.choose()
    roles = vantage.all_roles
    waiting: list[Entry] = []
    for entry in catalogue:
        if entry.source not in roles:
            continue
        reason = builder.skip_reason(entry)
        if reason is not None:
            builder.skipped.append(reason)
        elif entry.destination is Role.PROXY:
            waiting.append(entry)  # planned only when a flow goes through it
        else:
            _add(builder, entry)
    for entry in waiting:
        users = builder.proxied.get(entry.id)
        if users:
            _add(builder, entry)
        elif topology.hosts(Role.PROXY):
            builder.skipped.append(
                Skipped(entry, SkipReason.UNUSED, "no flow of this host goes through the proxy")
            )
        else:
            builder.skipped.append(Skipped(entry, SkipReason.NO_HOSTS, "no proxy hosts (optional)"))
    builder.contradictions()
    order = {entry.id: index for index, entry in enumerate(catalogue)}
    flows = sorted(builder.flows, key=lambda f: order[f.entry.id])
    groups: dict[str, list[str]] = {}
    for flow in flows:
        if flow.entry.group is not None:
            groups.setdefault(flow.entry.group, []).append(flow.entry.id)
    # A group with one planned member (an HTTPS-only site) is a plain flow.
    groups = {name: ids for name, ids in groups.items() if len(ids) > 1}
    flows = [replace(f, group=f.entry.group if f.entry.group in groups else None) for f in flows]
    return Plan(
        vantage,
        tuple(flows),
        tuple(builder.skipped),
        {
            name: GroupPlan(catalogue.groups[name].description, tuple(ids))
            for name, ids in groups.items()
        },
        tuple(builder.notes),
    )


def _add(builder: _Builder, entry: Entry) -> None:
    found = builder.destinations(entry)
    if isinstance(found, Skipped):
        builder.skipped.append(found)
    else:
        builder.flows.append(FlowPlan(entry, builder.topology.port_for(entry), found))


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
