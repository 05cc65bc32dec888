"""The plan as a value: planned flows, and how a target several flows need is probed once.

``Plan.probes()`` walks host specs as it goes, so a /16 of clients is never held in memory,
and ``Plan.total`` is known before anything is walked. Flows that probe the same (protocol,
port, targets) share one probe, which carries the other flows in ``Probe.also`` so each of
them is judged by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sepcheck.hosts import HostSpec
from sepcheck.model import Protocol
from sepcheck.plan.probe import Probe, stamp
from sepcheck.plan.skips import Skipped, SkipReason
from sepcheck.plan.targets import spec_key
from sepcheck.plan.vantage import Vantage

if TYPE_CHECKING:
    # Only types here: importing the catalogue would load pydantic with the plan.
    from sepcheck.catalogue import Entry


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

    def probes(
        self,
        spec: HostSpec | None = None,
        also: tuple[str, ...] = (),
        keep: Callable[[str], bool] | None = None,
    ) -> Iterator[Probe]:
        """Probes toward every spec (or only ``spec``), judged also for ``also``; with
        ``keep``, only those whose target (address, else name) it keeps: a worker
        process builds its own share, not every probe to throw half away."""
        entry = self.entry
        template = Probe(
            flow=entry.id,
            source=entry.source,
            destination=entry.destination,
            host="",
            address=None,
            spec="",
            protocol=entry.protocol,
            port=self.port,
            expect=entry.expect,
            severity=entry.severity,
            group=self.group,
            also=also,
            ipv4_only=entry.ipv4_only,
        )
        for item in self.specs if spec is None else (spec,):
            for target in item:
                if keep is not None and not keep(target.address or target.host):
                    continue
                yield stamp(template, target.host, target.address, target.spec)


ProbeKey = tuple[Protocol, int, tuple[object, ...]]


@dataclass(frozen=True)
class GroupPlan:
    """A group of alternatives as planned for this vantage."""

    description: str
    members: tuple[str, ...]
    """Planned member flows, in catalogue order."""


@dataclass(frozen=True)
class Plan:
    """Everything planned for one vantage: the flows, the entries not planned and why, the
    groups of alternatives and what was decided for the whole site."""

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

    def probes(self, keep: Callable[[str], bool] | None = None) -> Iterator[Probe]:
        """Flow by flow, host by host (the order people read); a target several flows
        need is probed once, carrying the others in ``Probe.also``. ``keep``: see
        ``FlowPlan.probes``."""
        shared = self.sharing()
        done: set[ProbeKey] = set()
        for flow in self.flows:
            for spec in flow.specs:
                key = (flow.entry.protocol, flow.port, spec_key(spec))
                if key in done:
                    continue
                done.add(key)
                also = tuple(f.entry.id for f in shared[key] if f is not flow)
                yield from flow.probes(spec, also, keep)
