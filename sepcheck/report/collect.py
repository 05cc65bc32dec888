"""Collect results during a run: verdicts, per-flow summaries, and a spool file.

Each result is judged, counted into its flow's summary, and appended as one JSON line to a
spool file next to the report, so a run of a million probes holds only per-flow counters
in memory. A probe several flows need is judged (and written) once for each of them. The
members of a group of alternatives wait for each other per host, so they are judged
together: what waits is at most one result per member and host, and groups lead to few
hosts (the managers, the LiveUpdate or directory servers). ``finish`` builds the head of
the report (summary included); ``writer.py`` then streams the spooled results into the
final file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sepcheck.errors import SepcheckError
from sepcheck.plan import FlowPlan, Plan
from sepcheck.report.model import (
    Detected,
    FailingHost,
    FlowResult,
    GroupResult,
    NotPlanned,
    Parameters,
    ReportHead,
    Summary,
    TopologyRef,
    VantageInfo,
)
from sepcheck.report.spool import LineWriter
from sepcheck.results import ProbeResult, Stage, Verdict
from sepcheck.verdict import CERT_WARN_DAYS, FlowSummary, judge, judge_alternatives


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SpoolError(SepcheckError):
    """The spool of results cannot be written (a full disk): the run cannot go on."""


@dataclass
class Shard:
    """What a worker process measured: its counters and its spool file."""

    flows: dict[str, FlowSummary]
    states: Counter[str]
    verdicts: Counter[str]
    count: int
    spool: Path


class Collector:
    def __init__(
        self,
        plan: Plan,
        stage: Stage,
        spool_dir: Path | None = None,
        cert_warn_days: float = CERT_WARN_DAYS,
    ) -> None:
        self.plan = plan
        self.stage = stage
        self.cert_warn_days = cert_warn_days
        self.started_at = utc_now()
        self.flows: dict[str, FlowSummary] = {
            f.entry.id: FlowSummary(f.entry.id) for f in plan.flows
        }
        self.flow_plans: dict[str, FlowPlan] = {f.entry.id: f for f in plan.flows}
        self.verify = {f.entry.id: f.entry.verify for f in plan.flows}
        self.waiting: dict[tuple[str, str, str], list[ProbeResult]] = {}
        """Results of a group's members for one host, until every member has one."""
        self.states: Counter[str] = Counter()
        self.verdicts: Counter[str] = Counter()
        self.count = 0
        fd, name = tempfile.mkstemp(prefix=".sepcheck-", suffix=".jsonl", dir=spool_dir)
        self.spool_path = Path(name)
        self.spool: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self.lines = LineWriter()
        self.spools: list[Path] = [self.spool_path]
        """Every spool whose results belong to this run (one per worker)."""

    def add(self, result: ProbeResult) -> None:
        probe = result.probe
        # Probes and states count what was sent; verdicts count what was judged (a probe
        # that several flows need is judged once for each).
        self.count += 1
        self.states[result.state.value] += 1
        if not probe.also and probe.group is None:
            # Most probes: one flow, no alternatives (this runs once per probe).
            verdict, note = judge(result, self.stage, self.verify[probe.flow], self.cert_warn_days)
            self._record(result, verdict, note)
            return
        for flow in (probe.flow, *probe.also):
            each = result if flow == probe.flow else self._for_flow(result, flow)
            group = each.probe.group
            planned = self.plan.groups.get(group or "")
            members = planned.members if planned else ()
            if len(members) < 2:
                verdict, note = judge(each, self.stage, self.verify[flow], self.cert_warn_days)
                self._record(each, verdict, note)
                continue
            key = (group or "", each.probe.host, each.probe.spec)
            held = self.waiting.setdefault(key, [])
            held.append(each)
            if len(held) == len(members):
                del self.waiting[key]
                for judged in judge_alternatives(
                    held, self.stage, complete=True, cert_warn_days=self.cert_warn_days
                ):
                    self._record(judged.result, judged.verdict, judged.note, judged.carried)

    def _for_flow(self, result: ProbeResult, flow: str) -> ProbeResult:
        """The same measurement, as a result of another flow that needs the same probe."""
        entry = self.flow_plans[flow].entry
        probe = replace(
            result.probe,
            flow=entry.id,
            source=entry.source,
            destination=entry.destination,
            expect=entry.expect,
            severity=entry.severity,
            group=self.flow_plans[flow].group,
            also=(),
        )
        return replace(result, probe=probe)

    def _record(
        self, result: ProbeResult, verdict: Verdict, note: str, carried: bool = False
    ) -> None:
        self.verdicts[verdict.value] += 1
        self.flows[result.probe.flow].add(result, verdict, note, carried)
        try:
            self.spool.write(self.lines.line(result, verdict, note))
        except OSError as exc:
            raise SpoolError(
                f"cannot keep the results in {self.spool_path.parent}: {exc.strerror or exc}",
                hint="free some space there, or point TMPDIR at a folder with room",
            ) from None

    def settle(self) -> None:
        """Judge what still waits for an alternative that was never measured (the run
        was interrupted): nothing measured is left out of the report."""
        for held in self.waiting.values():
            for judged in judge_alternatives(
                held, self.stage, complete=False, cert_warn_days=self.cert_warn_days
            ):
                self._record(judged.result, judged.verdict, judged.note, judged.carried)
        self.waiting.clear()

    def export(self) -> Shard:
        """Hand this worker's measurements to the parent (the spool file stays on disk)."""
        self.settle()
        self.spool.close()
        return Shard(self.flows, self.states, self.verdicts, self.count, self.spool_path)

    def absorb(self, shard: Shard) -> None:
        for flow, summary in shard.flows.items():
            self.flows[flow].merge(summary)
        self.states.update(shard.states)
        self.verdicts.update(shard.verdicts)
        self.count += shard.count
        self.spools.append(shard.spool)

    def group_results(self, flows: list[FlowResult]) -> list[GroupResult]:
        by_id = {f.flow: f for f in flows}
        out = []
        for name, planned in self.plan.groups.items():
            measured = [by_id[m] for m in planned.members if m in by_id]
            if not measured:
                continue
            verdict = max((f.verdict for f in measured), key=lambda v: v.rank)
            # Results a member passed on its own (not carried by another member).
            own = {
                f.flow: f.verdicts.get(Verdict.PASS.value, 0)
                - self.flows[f.flow].carried[Verdict.PASS.value]
                for f in measured
            }
            working = [
                f"{f.flow} ({f.protocol}/{f.port}) for {own[f.flow]:,} of {f.probes:,} "
                + ("host" if f.probes == 1 else "hosts")
                for f in measured
                if own[f.flow]
            ]
            if verdict is Verdict.PASS:
                note = "works through " + "; ".join(working)
            elif working:
                note = "some hosts reach no alternative; works through " + "; ".join(working)
            elif verdict is Verdict.WARN:
                note = "no alternative passes; the best one for each host only warns (see its note)"
            else:
                note = "no alternative works"
            out.append(
                GroupResult(
                    group=name,
                    description=planned.description,
                    flows=list(planned.members),
                    verdict=verdict,
                    note=note,
                )
            )
        return out

    @property
    def verdict(self) -> Verdict:
        # Nothing to probe is no pass: a scheduled audit fed a blank topology must not
        # report a healthy site every night.
        if self.verdicts[Verdict.FAIL.value] or self.plan.total == 0:
            return Verdict.FAIL
        return Verdict.PASS

    def flow_results(self) -> list[FlowResult]:
        out = []
        for flow in self.plan.flows:
            summary = self.flows[flow.entry.id]
            if summary.total == 0:
                continue
            entry = flow.entry
            worst = [
                FailingHost(
                    host=r.probe.host,
                    address=r.address,
                    state=r.state,
                    detail=r.detail,
                    note=n,
                    app=r.app.detail if r.app is not None else "",
                )
                for r, _, n in summary.examples
            ]
            out.append(
                FlowResult(
                    flow=entry.id,
                    purpose=entry.purpose,
                    protocol=entry.protocol.value,
                    port=flow.port,
                    source=entry.source.value,
                    destination=entry.destination.value,
                    expect=entry.expect.value,
                    verdict=summary.verdict,
                    probes=summary.total,
                    states=dict(summary.states),
                    verdicts=dict(summary.verdicts),
                    worst=worst,
                    worst_more=summary.worst_count - len(worst),
                    severity=entry.severity.value,
                    group=flow.group,
                    app=dict(summary.app),
                )
            )
        return out

    def finish(
        self,
        *,
        complete: bool,
        duration: float,
        tool_version: str,
        vantage: VantageInfo,
        topology: TopologyRef,
        parameters: Parameters,
        detected: Detected | None = None,
    ) -> ReportHead:
        self.settle()
        self.spool.flush()
        flows = self.flow_results()
        summary = Summary(
            probes=self.count,
            planned=self.plan.total,
            states=dict(self.states),
            verdicts=dict(self.verdicts),
            flows=dict(Counter(f.verdict.value for f in flows)),
            duration_s=round(duration, 3),
            flow_results=flows,
            not_planned=[
                NotPlanned(flow=s.entry.id, reason=s.reason.value, detail=s.detail)
                for s in self.plan.skipped
            ],
            gaps=[s.entry.id for s in self.plan.gaps],
            groups=self.group_results(flows),
            plan_notes=list(self.plan.notes),
        )
        return ReportHead(
            tool_version=tool_version,
            started_at=self.started_at,
            finished_at=utc_now(),
            complete=complete,
            verdict=self.verdict,
            vantage=vantage,
            topology=topology,
            parameters=parameters,
            summary=summary,
            detected=detected,
        )

    def close(self) -> None:
        if not self.spool.closed:
            # Closing flushes: on a full disk that fails, and the spool goes anyway.
            with contextlib.suppress(OSError):
                self.spool.close()
        for spool in self.spools:
            spool.unlink(missing_ok=True)
