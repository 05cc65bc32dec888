"""Merge reports from several vantage points into one site view.

Each catalogue flow is listed with its source and destination roles and what each report
measured of it (from which host, as which role, how many probes, in which states, with
which verdict); flows that no report measured are the gaps. An interrupted report still
counts for what it measured, and is marked as incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sepcheck.catalogue import Catalogue, Entry
from sepcheck.report.model import Report
from sepcheck.results import Verdict


@dataclass(frozen=True)
class Measurement:
    report: Path
    hostname: str
    roles: tuple[str, ...]
    complete: bool
    probes: int
    states: dict[str, int]
    verdict: Verdict


@dataclass
class SiteFlow:
    entry: Entry
    measured: list[Measurement] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict | None:
        if not self.measured:
            return None
        return max((m.verdict for m in self.measured), key=lambda v: v.rank)


@dataclass
class SiteView:
    reports: list[tuple[Path, Report]]
    flows: list[SiteFlow]

    @property
    def gaps(self) -> list[SiteFlow]:
        return [f for f in self.flows if not f.measured]

    @property
    def failing(self) -> bool:
        return any(f.verdict is Verdict.FAIL for f in self.flows)

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
                    "port": f.entry.port,
                    "expect": f.entry.expect.value,
                    "verdict": f.verdict.value if f.verdict else None,
                    "measured_by": [
                        {
                            "report": str(m.report),
                            "hostname": m.hostname,
                            "role": list(m.roles),
                            "complete": m.complete,
                            "probes": m.probes,
                            "states": m.states,
                            "verdict": m.verdict.value,
                        }
                        for m in f.measured
                    ],
                }
                for f in self.flows
            ],
            "gaps": [f.entry.id for f in self.gaps],
        }


def merge_reports(catalogue: Catalogue, reports: list[tuple[Path, Report]]) -> SiteView:
    flows = {entry.id: SiteFlow(entry) for entry in catalogue}
    for path, report in reports:
        for result in report.summary.flow_results:
            site = flows.get(result.flow)
            if site is None:
                # A flow of another catalogue (a user's copy): keep it rather than lose it.
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
                )
            )
    return SiteView(reports, list(flows.values()))
