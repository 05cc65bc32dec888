"""Render a plan: a rich summary table, every probe as plain lines, or streamed JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.table import Table

from sepcheck.plan import Plan, Probe, Skipped
from sepcheck.topology import Topology


def _vantage(plan: Plan) -> dict[str, Any]:
    return {
        "roles": [role.value for role in plan.vantage.roles],
        "inferred": plan.vantage.inferred,
        "evidence": plan.vantage.evidence or None,
    }


def probe_dict(probe: Probe) -> dict[str, Any]:
    return {
        "flow": probe.flow,
        "source": probe.source.value,
        "destination": probe.destination.value,
        "host": probe.host,
        "address": probe.address,
        "protocol": probe.protocol.value,
        "port": probe.port,
        "expect": probe.expect.value,
        "severity": probe.severity.value,
        "spec": probe.spec,
    }


_VARYING = frozenset({"host", "address", "spec"})


def _skipped_dict(item: Skipped) -> dict[str, Any]:
    return {"flow": item.entry.id, "reason": item.reason.value, "detail": item.detail}


def plan_json_chunks(plan: Plan, topology: Topology) -> Iterator[str]:
    """The plan as one JSON object, produced piece by piece so that the list of probes is
    never held in memory (a /16 of clients is over a million probes with a few flows)."""
    head = {
        "topology": str(topology.path) if topology.path else None,
        "sep_version": str(topology.sep_version) if topology.sep_version else None,
        "vantage": _vantage(plan),
        "total": plan.total,
        "skipped": [_skipped_dict(s) for s in plan.skipped],
    }
    yield json.dumps(head, indent=2)[:-2] + ',\n  "probes": ['
    separator = "\n    "
    for flow in plan.flows:
        # Everything but host, address and spec is the same for a flow's probes: format it
        # once, so large plans cost one small string join per probe.
        sample = next(flow.probes(), None)
        if sample is None:
            continue
        fixed = {k: v for k, v in probe_dict(sample).items() if k not in _VARYING}
        tail = json.dumps(fixed)[1:]
        batch: list[str] = []
        for probe in flow.probes():
            batch.append(
                f'{separator}{{"host": {json.dumps(probe.host)}, '
                f'"address": {json.dumps(probe.address)}, '
                f'"spec": {json.dumps(probe.spec)}, {tail}'
            )
            separator = ",\n    "
            if len(batch) >= 2048:
                yield "".join(batch)
                batch.clear()
        yield "".join(batch)
    yield "\n  ]\n}\n" if separator != "\n    " else "]\n}\n"


def plan_table(plan: Plan) -> Table:
    roles = ", ".join(role.value for role in plan.vantage.roles)
    table = Table(title=f"Probes sent as {roles}")
    table.add_column("flow", style="bold", no_wrap=True)
    table.add_column("proto/port", no_wrap=True)
    table.add_column("to")
    table.add_column("hosts")
    table.add_column("probes", justify="right")
    table.add_column("expect")
    for flow in plan.flows:
        expect = flow.entry.expect.value
        for spec in flow.specs:
            hosts = spec.text if spec.count == 1 else f"{spec.text} ({spec.count:,} hosts)"
            table.add_row(
                flow.entry.id,
                f"{flow.entry.protocol}/{flow.port}",
                flow.entry.destination.value,
                hosts,
                f"{spec.count:,}",
                "[green]reachable[/]" if expect == "reachable" else "[red]unreachable[/]",
            )
    return table


def skipped_table(plan: Plan) -> Table | None:
    if not plan.skipped:
        return None
    table = Table(title="Not planned")
    table.add_column("flow", no_wrap=True)
    table.add_column("reason")
    table.add_column("detail")
    for item in plan.skipped:
        style = "yellow" if item.reason.value == "gap" else "dim"
        table.add_row(item.entry.id, f"[{style}]{item.reason.value}[/]", item.detail)
    return table


def plan_lines(plan: Plan) -> Iterator[str]:
    """One tab-separated line per probe, for --expand (and for grep and awk)."""
    yield "flow\tdestination\thost\taddress\tprotocol\tport\texpect\n"
    for p in plan.probes():
        yield (
            f"{p.flow}\t{p.destination}\t{p.host}\t{p.address or '-'}\t"
            f"{p.protocol}\t{p.port}\t{p.expect}\n"
        )
