"""Merge reports from several vantage points into one site view.

Reports of `sepcheck listen` (responders) add the other direction: for each flow probed
with the responder's token (the fingerprints match), how many of the prober's token probes
it received and from where, matched probe by probe through the source the responder saw
(which the prober's result records); a probe it did not receive was answered, if at all,
by something else on the path. A responder report of a token no prober used matches
nothing, and the view says so.

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

A fleet run (Ansible) also names the hosts whose check did not run (unreachable, sepcheck
failed to install): each flow of their roles is "not measured from" them, and one nobody
measured is a gap with their reason; a site view with such a host is never a pass. A flow
the reports of the same role left out on purpose stays not applicable: the missing host
had the same topology, and would have left it out too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sepcheck.catalogue import Catalogue, Entry
from sepcheck.errors import Location, SepcheckError
from sepcheck.listen.report import ListenReport
from sepcheck.model import Role
from sepcheck.net.beacon import Endpoint
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
    """The other direction of a flow: what a `sepcheck listen` report (of the token the
    prober used) received of the prober's token probes of that flow."""

    report: Path
    hostname: str
    listening: bool
    """It listened on the flow's port (False: skipped, ``why`` says why)."""
    probes: int
    """Of the prober's token probes of this flow, those it received (matched by the
    source it saw, which the prober's result records)."""
    asked: int = 0
    """The prober's token probes of this flow (results with a responder's finding)."""
    sources: tuple[str, ...] = ()
    """The sources it saw them from (a few)."""
    why: str = ""


@dataclass(frozen=True)
class MissingHost:
    """A host whose check did not run (``merge --missing``), and why."""

    host: str
    roles: tuple[Role, ...]
    reason: str

    @property
    def line(self) -> str:
        return f"not measured from {self.host}: {self.reason or 'no reason given'}"


@dataclass
class SiteFlow:
    entry: Entry
    measured: list[Measurement] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    responders: list[ResponderView] = field(default_factory=list)
    """What responders on the flow's destination saw of it (`sepcheck listen` reports)."""
    missing: list[MissingHost] = field(default_factory=list)
    """Hosts of its source role whose check did not run."""
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
    missing: list[MissingHost] = field(default_factory=list)
    """Hosts whose check did not run: the view is incomplete."""

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

    @property
    def warning(self) -> bool:
        return any(f.verdict is Verdict.WARN for f in self.flows)


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
RESPONDER_CHECK = "sepcheck-responder"


def _received(listen: ListenReport) -> set[tuple[str, int, str]]:
    """The token probes ``listen`` received: (protocol, local port, source as the prober's
    result writes what the responder saw: "198.18.1.2:40112", "[fd00:1::2]:40112")."""
    out: set[tuple[str, int, str]] = set()
    for event in listen.events:
        if event.what in ("probe", "redirected"):
            seen = Endpoint(event.source.address, event.source.port)
            out.add((event.protocol, event.port, str(seen)))
    return out


def _responder_views(
    flow: str,
    protocol: str,
    port: int,
    reports: list[tuple[Path, Report]],
    listens: list[tuple[Path, ListenReport, set[tuple[str, int, str]]]],
) -> list[ResponderView]:
    """What each responder of the prober's token saw of ``flow``'s token probes: matched
    probe by probe through the source the responder saw (the prober's result records it),
    so another flow's probes to the same port, other runs' and spoofed ones never count."""
    views = []
    for path, listen, received in listens:
        asked = 0
        got: list[str] = []
        for _, report in reports:
            if report.parameters.responder != listen.fingerprint:
                continue
            for item in report.results:
                app = item.app
                if item.flow != flow or app is None or app.check != RESPONDER_CHECK:
                    continue
                asked += 1
                seen_as = app.read.get("seen_as")
                if isinstance(seen_as, str) and (protocol, item.port, seen_as) in received:
                    got.append(seen_as.rsplit(":", 1)[0].strip("[]"))
        skipped = next(
            (s for s in listen.skipped if (s.protocol, s.port) == (protocol, port)), None
        )
        if skipped is not None and asked:
            views.append(ResponderView(path, listen.hostname, False, 0, asked, (), skipped.why))
        elif asked:
            sources = tuple(dict.fromkeys(got))[:SOURCES_SHOWN]
            views.append(ResponderView(path, listen.hostname, True, len(got), asked, sources))
    return views


def merge_reports(
    catalogue: Catalogue,
    reports: list[tuple[Path, Report]],
    listens: list[tuple[Path, ListenReport]] | None = None,
    missing: Iterable[MissingHost] = (),
) -> SiteView:
    flows = {entry.id: SiteFlow(entry) for entry in catalogue}
    absent = list(missing)
    for host in absent:
        roles = _roles_played(catalogue, host.roles)
        for flow in flows.values():
            if flow.entry.source in roles:
                flow.missing.append(host)
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
    indexed = [(path, listen, _received(listen)) for path, listen in listens or ()]
    for site in flows.values():
        for port in site.ports or [site.entry.port]:
            site.responders += _responder_views(
                site.entry.id, site.entry.protocol.value, port, reports, indexed
            )
        if site.measured:
            site.status = Status.MEASURED
            continue
        _judge_unmeasured(site, reports, played)
    return SiteView(reports, list(flows.values()), list(listens or ()), absent)


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
    absent = [host.line for host in site.missing]
    if not relevant:
        site.status = Status.GAP
        site.why = "; ".join(absent) or f"no report is from a {site.entry.source} host"
    elif needed:
        site.status = Status.GAP
        site.why = "; ".join(needed + absent)
    else:
        site.status = Status.NOT_APPLICABLE
        site.why = "; ".join(f"{x.hostname}: {x.reason} ({x.detail})" for x in site.excluded)


class MissingListError(SepcheckError):
    """A ``merge --missing`` file that is not a list of hosts with roles and a reason."""


def read_missing(data: object, path: Path) -> list[MissingHost]:
    """The hosts of a ``--missing`` file (parsed JSON): ``[{"host": ..., "roles": [...],
    "reason": ...}]``, as the fleet playbook writes it."""

    def bad(key: str | None, message: str) -> MissingListError:
        return MissingListError(
            message,
            location=Location(path, None, key),
            hint='write [{"host": "wks01", "roles": ["client"], "reason": "unreachable: ..."}]',
        )

    if not isinstance(data, list):
        raise bad(None, "must be a list of the hosts whose check did not run")
    hosts = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise bad(f"[{index}]", "must be an object with host, roles and reason")
        host, roles, reason = item.get("host"), item.get("roles"), item.get("reason")
        if not isinstance(host, str) or not host.strip():
            raise bad(f"[{index}].host", "must be the host's name")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise bad(f"[{index}].roles", "must be a list of role names")
        unknown = next((i for i, r in enumerate(roles) if r not in _ROLE_NAMES), None)
        if unknown is not None:
            raise bad(f"[{index}].roles[{unknown}]", f"unknown role {roles[unknown]!r}")
        if not isinstance(reason, str):
            raise bad(f"[{index}].reason", "must be a text: why the check did not run")
        hosts.append(MissingHost(host, tuple(Role(r) for r in roles), reason))
    return hosts
