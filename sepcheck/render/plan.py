"""Render a plan: a rich summary table, every probe as plain lines, or streamed JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepcheck.hosts import HostSpec
from sepcheck.plan import FlowPlan, Plan, Probe, Skipped, spec_key
from sepcheck.render.catalogue import expect_words
from sepcheck.render.layout import Field, view
from sepcheck.render.words import plural
from sepcheck.topology import Topology


def _vantage(plan: Plan) -> dict[str, Any]:
    return {
        "roles": [role.value for role in plan.vantage.roles],
        "inferred": plan.vantage.inferred,
        "evidence": plan.vantage.evidence or None,
        "implied": [
            {"role": role.value, "by": by.value, "why": why}
            for role, by, why in plan.vantage.implied
        ],
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
        "group": probe.group,
        "also": list(probe.also),
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
        "notes": list(plan.notes),
        "groups": {name: list(group.members) for name, group in plan.groups.items()},
        "skipped": [_skipped_dict(s) for s in plan.skipped],
    }
    yield json.dumps(head, indent=2)[:-2] + ',\n  "probes": ['
    separator = "\n    "
    # Everything but host, address and spec is the same for the probes of one flow toward
    # one spec: format it once, so large plans cost one small string join per probe.
    tails: dict[tuple[str, tuple[str, ...]], str] = {}
    batch: list[str] = []
    for probe in plan.probes():
        key = (probe.flow, probe.also)
        tail = tails.get(key)
        if tail is None:
            fixed = {k: v for k, v in probe_dict(probe).items() if k not in _VARYING}
            tail = tails[key] = json.dumps(fixed)[1:]
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


HOST_ROWS = 8
"""A flow toward more host entries than this gets one row that names the first few: a
topology listing 2,000 clients one by one must not print 2,000 rows per flow (--expand
and --format json give every probe)."""


def _host_rows(flow: FlowPlan) -> list[tuple[str, int, list[tuple[object, ...]]]]:
    """(hosts text, probes, spec keys) for each row of ``flow``."""

    def text(spec: HostSpec) -> str:
        return spec.text if spec.count == 1 else f"{spec.text} ({spec.count:,} hosts)"

    if len(flow.specs) <= HOST_ROWS:
        return [(text(spec), spec.count, [spec_key(spec)]) for spec in flow.specs]
    shown = ", ".join(text(spec) for spec in flow.specs[:3])
    more = len(flow.specs) - 3
    return [(f"{shown} and {more:,} more entries", flow.count, [spec_key(s) for s in flow.specs])]


_PLAN_FIELDS = (
    Field("flow", wrap=False, style="bold"),
    Field("proto/port", wrap=False),
    Field("to", optional=True),
    Field("hosts"),
    Field("probes", wrap=False),
    Field("expect"),
    Field("judged with", optional=True),
)


def plan_view(plan: Plan, width: int | None = None) -> RenderableType:
    """Every planned flow by host block, with what it expects and how strictly."""
    roles = ", ".join(role.value for role in plan.vantage.all_roles)
    rows: list[tuple[str | Text, ...]] = []
    sharing = plan.sharing()
    for flow in plan.flows:
        entry = flow.entry
        for hosts, count, spec_keys in _host_rows(flow):
            shared = list(
                dict.fromkeys(
                    f.entry.id
                    for key in spec_keys
                    for f in sharing.get((entry.protocol, flow.port, key), [])
                    if f is not flow
                )
            )
            judged = []
            if flow.group:
                judged.append(f"alternatives {flow.group}")
            if shared:
                judged.append("same probe as " + ", ".join(shared))
            rows.append(
                (
                    entry.id,
                    f"{entry.protocol}/{flow.port}",
                    entry.destination.value,
                    hosts,
                    f"{count:,}",
                    expect_words(entry.expect, entry.severity.value),
                    "; ".join(judged),
                )
            )
    if not rows:
        return Text(
            f"Probes sent as {roles}: none. No catalogue flow starts at this role on this "
            "site" + (" (see why below)." if plan.skipped else "."),
        )
    return view(f"Probes sent as {roles}", _PLAN_FIELDS, rows, width)


def plan_notes(plan: Plan) -> RenderableType | None:
    """What the plan decided for the site as a whole (implied roles, defaults)."""
    if not plan.notes:
        return None
    lines = Table.grid(padding=(0, 1))
    lines.add_column(no_wrap=True)
    lines.add_column()
    for note in plan.notes:
        lines.add_row("  -", Text(note))
    return Group(Text("Notes:", style="bold"), lines)


_SKIPPED_FIELDS = (Field("flow", wrap=False), Field("reason", wrap=False), Field("detail"))


def skipped_view(plan: Plan, width: int | None = None) -> RenderableType | None:
    if not plan.skipped:
        return None
    rows = [
        (
            item.entry.id,
            Text(item.reason.value, style="yellow" if item.reason.value == "gap" else "dim"),
            item.detail,
        )
        for item in plan.skipped
    ]
    return view("Not planned", _SKIPPED_FIELDS, rows, width)


def plan_summary(plan: Plan) -> str:
    """'N probes in M flows' (with shared probes and gaps), the plan's last line on stderr."""
    gaps = len(plan.gaps)
    line = f"{plural(plan.total, 'probe')} in {plural(len(plan.flows), 'flow')}"
    judged = sum(flow.count for flow in plan.flows)
    if judged > plan.total:
        line += (
            f" ({judged:,} flow targets; {judged - plan.total:,} share a probe with another flow)"
        )
    if gaps:
        line += f"; {plural(gaps, 'required flow')} with no destination hosts (gaps)"
    return line


def plan_lines(plan: Plan) -> Iterator[str]:
    """One tab-separated line per probe, for --expand (and for grep and awk)."""
    yield "flow\tdestination\thost\taddress\tprotocol\tport\texpect\tseverity\talso\n"
    for p in plan.probes():
        yield (
            f"{p.flow}\t{p.destination}\t{p.host}\t{p.address or '-'}\t"
            f"{p.protocol}\t{p.port}\t{p.expect}\t{p.severity}\t{','.join(p.also) or '-'}\n"
        )
