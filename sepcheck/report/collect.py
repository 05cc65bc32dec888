"""Collect results during a run: verdicts, per-flow summaries, and a spool file.

Each result is judged, counted into its flow's summary, and appended as one JSON line to a
spool file next to the report, so a run of a million probes holds only per-flow counters
in memory. ``finish`` builds the head of the report (summary included); ``writer.py`` then
streams the spooled results into the final file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sepcheck.plan import Plan
from sepcheck.report.model import (
    FailingHost,
    FlowResult,
    NotPlanned,
    Parameters,
    ReportHead,
    Summary,
    TopologyRef,
    VantageInfo,
    result_record,
)
from sepcheck.results import ProbeResult, Stage, Verdict
from sepcheck.verdict import FlowSummary, judge

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Shard:
    """What a worker process measured: its counters and its spool file."""

    flows: dict[str, FlowSummary]
    states: Counter[str]
    verdicts: Counter[str]
    count: int
    spool: Path


class Collector:
    def __init__(self, plan: Plan, stage: Stage, spool_dir: Path | None = None) -> None:
        self.plan = plan
        self.stage = stage
        self.started_at = utc_now()
        self.flows: dict[str, FlowSummary] = {
            f.entry.id: FlowSummary(f.entry.id) for f in plan.flows
        }
        self.states: Counter[str] = Counter()
        self.verdicts: Counter[str] = Counter()
        self.count = 0
        fd, name = tempfile.mkstemp(prefix=".sepcheck-", suffix=".jsonl", dir=spool_dir)
        self.spool_path = Path(name)
        self.spool: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self.spools: list[Path] = [self.spool_path]
        """Every spool whose results belong to this run (one per worker)."""

    def add(self, result: ProbeResult) -> None:
        verdict, note = judge(result, self.stage)
        self.count += 1
        self.states[result.state.value] += 1
        self.verdicts[verdict.value] += 1
        self.flows[result.probe.flow].add(result, verdict, note)
        self.spool.write(_dumps(result_record(result, verdict, note)) + "\n")

    def export(self) -> Shard:
        """Hand this worker's measurements to the parent (the spool file stays on disk)."""
        self.spool.close()
        return Shard(self.flows, self.states, self.verdicts, self.count, self.spool_path)

    def absorb(self, shard: Shard) -> None:
        for flow, summary in shard.flows.items():
            self.flows[flow].merge(summary)
        self.states.update(shard.states)
        self.verdicts.update(shard.verdicts)
        self.count += shard.count
        self.spools.append(shard.spool)

    @property
    def verdict(self) -> Verdict:
        return Verdict.FAIL if self.verdicts[Verdict.FAIL.value] else Verdict.PASS

    def flow_results(self) -> list[FlowResult]:
        out = []
        for flow in self.plan.flows:
            summary = self.flows[flow.entry.id]
            if summary.total == 0:
                continue
            entry = flow.entry
            worst = [
                FailingHost(
                    host=r.probe.host, address=r.address, state=r.state, detail=r.detail, note=n
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
    ) -> ReportHead:
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
        )

    def close(self) -> None:
        if not self.spool.closed:
            self.spool.close()
        for spool in self.spools:
            spool.unlink(missing_ok=True)
