"""Building the plan: catalogue x topology x vantage -> planned flows and the reasons for
the rest.

Every entry whose source is one of the vantage's roles (and the roles they imply) is
either planned toward the destination role's hosts or kept with why it is not (wrong
version, feature off, another member of its group chosen, carried by the proxy, no hosts,
the wrong OS or IP version, or contradicted by a required flow of another role).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sepcheck.hosts import FileSpec, HostSpec
from sepcheck.model import Expect, Role, Scope
from sepcheck.plan.flows import FlowPlan, GroupPlan, Plan
from sepcheck.plan.skips import Skipped, SkipReason
from sepcheck.plan.targets import LOOPBACK, IPv4Part, spec_key, spec_version
from sepcheck.plan.vantage import Vantage

if TYPE_CHECKING:
    # Only types here: importing them would load pydantic with the plan.
    from sepcheck.catalogue import Catalogue, Entry
    from sepcheck.topology import Topology


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
                if spec.v6_total < spec.count:  # a file of IPv6 addresses only gives none
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
    if topology.version_auto and topology.sep_version is None:
        builder.notes.append(
            "sep_version is auto: `check` reads the manager's version before it plans; "
            "until then the flows of every SEP version are planned"
        )
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
