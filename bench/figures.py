"""The benchmark's figures: one JSON row per workload (bench-results.json) and the table
printed at the end.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table

from bench.measure import ToolRun, disagreements
from bench.workloads import Workload


def result_row(work: Workload, ours: ToolRun, theirs: ToolRun | None) -> dict[str, Any]:
    """One workload's figures, with nmap's and the comparison when nmap ran."""
    disagree = disagreements(ours=ours, theirs=theirs) if theirs else None
    return {
        "workload": asdict(work) | {"probes": work.probes, "block": work.block},
        "sepcheck": _figures(ours, work),
        "nmap": _figures(theirs, work) if theirs else None,
        "speedup": (theirs.seconds / ours.seconds) if theirs else None,
        "pps_ratio": (ours.pps(work.probes) / theirs.pps(work.probes)) if theirs else None,
        "disagreements_with_nmap": disagree,
    }


def _figures(run: ToolRun, work: Workload) -> dict[str, Any]:
    return {
        "seconds": round(run.seconds, 3),
        "all_seconds": run.all_seconds,
        "probes_per_second": round(run.pps(work.probes), 1),
        "peak_pss_mb": round(run.peak_pss_mb, 1),
        "states": run.states,
        "misclassified": run.wrong,
        "examples": run.examples,
    }


def results_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="sepcheck vs nmap -T4 (same lab, same run; median s, min-max of the runs)")
    for column in (
        "workload",
        "probes",
        "sepcheck s",
        "nmap s",
        "speedup",
        "sepcheck pps",
        "nmap pps",
        "pps ratio",
        "PSS MB (s/n)",
        "wrong (s/n)",
        "disagree",
    ):
        table.add_column(column, justify="right")
    for r in results:
        ours, theirs = r["sepcheck"], r["nmap"]
        table.add_row(
            r["workload"]["name"],
            f"{r['workload']['probes']:,}",
            _seconds(ours),
            _seconds(theirs) if theirs else "-",
            f"{r['speedup']:.1f}x" if r["speedup"] else "-",
            f"{ours['probes_per_second']:,.0f}",
            f"{theirs['probes_per_second']:,.0f}" if theirs else "-",
            f"{r['pps_ratio']:.2f}" if r["pps_ratio"] else "-",
            f"{ours['peak_pss_mb']:.0f}/{theirs['peak_pss_mb']:.0f}"
            if theirs
            else f"{ours['peak_pss_mb']:.0f}/-",
            f"{ours['misclassified']}/{theirs['misclassified']}"
            if theirs
            else f"{ours['misclassified']}/-",
            str(r["disagreements_with_nmap"]) if theirs else "-",
        )
    return table


def _seconds(figures: dict[str, Any]) -> str:
    """The median, and the spread of the runs when there were several."""
    runs = figures["all_seconds"]
    if len(runs) < 2:
        return f"{figures['seconds']:.2f}"
    return f"{figures['seconds']:.2f} ({min(runs):.2f}-{max(runs):.2f})"
