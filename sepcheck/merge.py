"""Merge reports from several vantage points into one site view.

Reports of `sepcheck listen` (responders) add the other direction: for each flow whose
port a responder listened on, how many of the prober's token probes it received and from
where (a probe the prober saw answered but no responder received was answered by a device
on the path).

Each catalogue flow is listed with its source and destination roles and what each report
measured of it (from which host, as which role, on which port, how many probes, in which
states, with which verdict). An interrupted report still counts for what it measured, and
is marked as incomplete.

A flow nobody measured is one of two things:

- a gap: the site needed it and nobody measured it. A report that played the flow's
  source role left it out as a "gap" (a required or must-not-reach flow whose destination
  role has no hosts in that report's topology: the report's own ``summary.gaps``), or
  planned it but has no result of it (the run was interrupted first); or no report played
  its source role at all.
- not applicable: every report that played its source role left it out on purpose: the
  site's version, features or settings exclude it, it goes through the proxy, it would
  contradict a required flow, the user skipped it, its hosts run another OS or are IPv6
  only, or it is optional and the site has no such hosts ("no-hosts": the catalogue marks
  those flows optional precisely so that a site without, say, a syslog server or a proxy
  has no gap; the single-host report does not count them as gaps either).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sepcheck.catalogue import Catalogue, Entry
from sepcheck.listen.report import ListenReport
from sepcheck.model import Role
from sepcheck.report.model import Report
from sepcheck.results import Verdict

WHOLE_FLOW_REASONS = frozenset(
    {"version", "feature", "setting", "proxy", "unused", "contradicted", "skipped", "no-hosts"}
)
"""Reasons in ``summary.not_planned`` that leave a flow out entirely, on purpose."""

SOME_HOSTS_REASONS = frozenset({"os", "ipv4-only"})
"""Reasons that may leave out only some of a flow's hosts, the others being planned."""


_ROLE_NAMES = frozenset(r.value for r in Role)


class Status(StrEnum):
    MEASURED = "measured"
    GAP = "gap"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Measurement:
    report: Path
    hostname: str
    roles: tuple[str, ...]
    complete: bool
    probes: int
    states: dict[str, int]
    verdict: Verdict
    ports: tuple[int, ...]
    """The ports probed: the topology may move a flow off the catalogue's default."""


@dataclass(frozen=True)
class Exclusion:
    """A report that left the flow out, and why (an item of its ``summary.not_planned``)."""

    report: Path
    hostname: str
    reason: str
    detail: str


@dataclass(frozen=True)
class ResponderView:
    """The other direction of a flow: what a `sepcheck listen` report saw on its port."""

    report: Path
    hostname: str
    listening: bool
    """It listened on the flow's port (False: skipped, ``why`` says why)."""
    probes: int
    """Token probes it received on that port (queries not counted)."""
    sources: tuple[str, ...]
    """The sources it saw them from (a few)."""
    why: str = ""


@dataclass
class SiteFlow:
    entry: Entry
    measured: list[Measurement] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    responders: list[ResponderView] = field(default_factory=list)
    """What responders on the flow's destination saw of it (`sepcheck listen` reports)."""
    status: Status = Status.GAP
    why: str = ""
    """For a flow nobody measured: who needed it, or why it does not apply."""

    @property
    def verdict(self) -> Verdict | None:
        if not self.measured:
            return None
        return max((m.verdict for m in self.measured), key=lambda v: v.rank)

    @property
    def ports(self) -> list[int]:
        """The ports measured, in every report together."""
        return sorted({p for m in self.measured for p in m.ports})


@dataclass
class SiteView:
    reports: list[tuple[Path, Report]]
    flows: list[SiteFlow]
    listens: list[tuple[Path, ListenReport]] = field(default_factory=list)

    @property
    def gaps(self) -> list[SiteFlow]:
        return [f for f in self.flows if f.status is Status.GAP]

    @property
    def not_applicable(self) -> list[SiteFlow]:
        return [f for f in self.flows if f.status is Status.NOT_APPLICABLE]

    @property
    def failing(self) -> bool:
        return any(f.verdict is Verdict.FAIL for f in self.flows)

    @property
    def complete(self) -> bool:
        return all(r.complete for _, r in self.reports)

    def as_dict(self) -> dict[str, object]:
        return {
            "reports": [
                {
                    "path": str(path),
                    "hostname": r.vantage.hostname,
                    "role": r.vantage.role,
                    "complete": r.complete,
                    "started_at": r.started_at,
                    "verdict": r.verdict.value,
                }
                for path, r in self.reports
            ],
            "flows": [
                {
                    "flow": f.entry.id,
                    "source": f.entry.source.value,
                    "destination": f.entry.destination.value,
                    "protocol": f.entry.protocol.value,
                    # The catalogue's default, as before; what was probed is in "ports".
                    "port": f.entry.port,
                    "ports": f.ports,
                    "expect": f.entry.expect.value,
                    "status": f.status.value,
                    "verdict": f.verdict.value if f.verdict else None,
                    "why": f.why,
                    "measured_by": [
                        {
                            "report": str(m.report),
                            "hostname": m.hostname,
                            "role": list(m.roles),
                            "complete": m.complete,
                            "ports": list(m.ports),
                            "probes": m.probes,
                            "states": m.states,
                            "verdict": m.verdict.value,
                        }
                        for m in f.measured
                    ],
                    "not_planned_by": [
                        {
                            "report": str(x.report),
                            "hostname": x.hostname,
                            "reason": x.reason,
                            "detail": x.detail,
                        }
                        for x in f.excluded
                    ],
                    "responders": [
                        {
                            "report": str(r.report),
                            "hostname": r.hostname,
                            "listening": r.listening,
                            "probes": r.probes,
                            "sources": list(r.sources),
                            "why": r.why,
                        }
                        for r in f.responders
                    ],
                }
                for f in self.flows
            ],
            "responder_reports": [
                {
                    "path": str(path),
                    "hostname": r.hostname,
                    "complete": r.complete,
                    "started": r.started,
                    "fingerprint": r.fingerprint,
                }
                for path, r in self.listens
            ],
            "gaps": [f.entry.id for f in self.gaps],
            "not_applicable": [f.entry.id for f in self.not_applicable],
        }


def _roles_played(catalogue: Catalogue, names: Iterable[str]) -> set[Role]:
    """The roles a report's host played: those it was given and those they imply (the
    report names only the first; a role unknown here is ignored)."""
    roles = {Role(name) for name in names if name in _ROLE_NAMES}
    return roles | set(catalogue.implied_roles(roles))


def _needed(report: Report, reasons: set[str]) -> bool:
    """Whether a report that played a flow's source role, and has no result of it,
    needed it."""
    if "gap" in reasons:
        return True
    if reasons & WHOLE_FLOW_REASONS:
        return False
    if reasons <= SOME_HOSTS_REASONS and reasons:
        # Only some hosts may have been left out, the others planned: a complete run
        # measured everything it planned, so with no result nothing was planned.
        return not report.complete
    # Planned (or the flow is not in the catalogue the report was made with), no result.
    return True


SOURCES_SHOWN = 5


def _responder_views(
    path: Path, listen: ListenReport, protocol: str, port: int
) -> ResponderView | None:
    """What ``listen`` saw of ``protocol``/``port``; None when it was not asked to listen
    there (not this flow's destination)."""
    skipped = next((s for s in listen.skipped if (s.protocol, s.port) == (protocol, port)), None)
    if skipped is not None:
        return ResponderView(path, listen.hostname, False, 0, (), skipped.why)
    if not any((p.protocol, p.port) == (protocol, port) for p in listen.listening):
        return None
    probes = [
        e
        for e in listen.events
        if (e.protocol, e.port) == (protocol, port) and e.what in ("probe", "redirected")
    ]
    sources = tuple(dict.fromkeys(e.source.address for e in probes))[:SOURCES_SHOWN]
    return ResponderView(path, listen.hostname, True, len(probes), sources)


def merge_reports(
    catalogue: Catalogue,
    reports: list[tuple[Path, Report]],
    listens: list[tuple[Path, ListenReport]] | None = None,
) -> SiteView:
    flows = {entry.id: SiteFlow(entry) for entry in catalogue}
    played: list[set[Role]] = []
    for path, report in reports:
        played.append(_roles_played(catalogue, report.vantage.role))
        ports: dict[str, set[int]] = {}
        for item in report.results:
            ports.setdefault(item.flow, set()).add(item.port)
        for result in report.summary.flow_results:
            site = flows.get(result.flow)
            if site is None:
                # A flow of another catalogue (a user's copy): not in this site view.
                continue
            site.measured.append(
                Measurement(
                    report=path,
                    hostname=report.vantage.hostname,
                    roles=tuple(report.vantage.role),
                    complete=report.complete,
                    probes=result.probes,
                    states=dict(result.states),
                    verdict=result.verdict,
                    ports=tuple(sorted(ports.get(result.flow) or {result.port})),
                )
            )
        for skipped in report.summary.not_planned:
            site = flows.get(skipped.flow)
            if site is not None:
                site.excluded.append(
                    Exclusion(path, report.vantage.hostname, skipped.reason, skipped.detail)
                )
    for site in flows.values():
        for path, listen in listens or ():
            for port in site.ports or [site.entry.port]:
                view = _responder_views(path, listen, site.entry.protocol.value, port)
                if view is not None:
                    site.responders.append(view)
        if site.measured:
            site.status = Status.MEASURED
            continue
        _judge_unmeasured(site, reports, played)
    return SiteView(reports, list(flows.values()), list(listens or ()))


def _judge_unmeasured(
    site: SiteFlow, reports: list[tuple[Path, Report]], played: list[set[Role]]
) -> None:
    needed: list[str] = []
    relevant = 0
    for (path, report), roles in zip(reports, played, strict=True):
        mine = [x for x in site.excluded if x.report == path]
        if site.entry.source not in roles and not mine:
            continue
        relevant += 1
        if not _needed(report, {x.reason for x in mine}):
            continue
        gap = next((x for x in mine if x.reason == "gap"), None)
        host = report.vantage.hostname
        if gap is not None:
            needed.append(f"{host}: {gap.detail}")
        elif not report.complete:
            needed.append(f"{host}: planned, not measured (the run was interrupted)")
        else:
            needed.append(f"{host}: no result and no reason (a report of another catalogue?)")
    if not relevant:
        site.status = Status.GAP
        site.why = f"no report is from a {site.entry.source} host"
    elif needed:
        site.status = Status.GAP
        site.why = "; ".join(needed)
    else:
        site.status = Status.NOT_APPLICABLE
        site.why = "; ".join(f"{x.hostname}: {x.reason} ({x.detail})" for x in site.excluded)
