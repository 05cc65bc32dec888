"""Render the merged site view as a rich table or JSON."""

from __future__ import annotations

import json

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepcheck.merge import ResponderView, SiteFlow, SiteView, Status
from sepcheck.model import Expect
from sepcheck.render.words import plural

_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}


def port_text(flow: SiteFlow) -> str:
    """The ports measured; the catalogue's default only when nobody measured the flow
    (the topology may have moved it, so it is marked as a default)."""
    protocol = flow.entry.protocol.value
    if flow.ports:
        return ", ".join(f"{protocol}/{p}" for p in flow.ports)
    return f"{protocol}/{flow.entry.port} (default)"


def _port(flow: SiteFlow) -> Text:
    return Text(port_text(flow), style="" if flow.ports else "dim")


def direction_text(flow: SiteFlow) -> str:
    arrow = "-x>" if flow.entry.expect is Expect.UNREACHABLE else "->"
    return f"{flow.entry.source} {arrow} {flow.entry.destination}"


def site_table(view: SiteView) -> RenderableType:
    """Measured flows and gaps, in catalogue order; then, apart, the flows that apply to
    no report's host (not gaps: nothing was missed), and the hosts whose check did not
    run."""
    table = Table(title="sepcheck site view", box=box.SIMPLE_HEAD)
    for column in ("", "flow", "port", "direction", "measured from"):
        table.add_column(column, overflow="fold")
    several_ports = any(len(f.ports) > 1 for f in view.flows)
    for flow in view.flows:
        if flow.status is Status.NOT_APPLICABLE:
            continue
        verdict = flow.verdict.value if flow.verdict else None
        label = Text(verdict.upper(), style=_STYLE[verdict]) if verdict else Text("GAP", "dim")
        measured = "\n".join(measured_lines(flow, several_ports))
        table.add_row(label, flow.entry.id, _port(flow), direction_text(flow), Text(measured))
    parts: list[RenderableType] = [table]
    if view.not_applicable:
        excluded = Table(title="not applicable (left out by every report)", box=box.SIMPLE_HEAD)
        for column in ("flow", "port", "direction", "why"):
            excluded.add_column(column, overflow="fold")
        for flow in view.not_applicable:
            why = "\n".join([flow.why, *(host.line for host in flow.missing)])
            excluded.add_row(flow.entry.id, _port(flow), direction_text(flow), Text(why))
        parts.append(excluded)
    if view.missing:
        absent = Table(title="hosts not measured (their check did not run)", box=box.SIMPLE_HEAD)
        for column in ("host", "roles", "reason"):
            absent.add_column(column, overflow="fold")
        for host in view.missing:
            absent.add_row(host.host, ", ".join(host.roles), Text(host.reason))
        parts.append(absent)
    return table if len(parts) == 1 else Group(*parts)


def measured_texts(flow: SiteFlow, several_ports: bool) -> list[str]:
    """Each measurement of a flow: who, as which roles, with which verdict and states (and
    the ports, when the view has flows on several)."""
    return [
        f"{m.hostname} as {', '.join(m.roles)}: {m.verdict.value} "
        f"({', '.join(f'{n:,} {s}' for s, n in m.states.items())})"
        + (f" on {', '.join(map(str, m.ports))}" if several_ports else "")
        + ("" if m.complete else " [interrupted]")
        for m in flow.measured
    ]


def measured_lines(flow: SiteFlow, several_ports: bool) -> list[str]:
    """What the site view says of a flow measured or not, line by line: who measured it,
    or why nobody did; what the responders saw; which hosts of its source role did not
    run their check."""
    # A gap's "why" may start with its missing hosts' "not measured from ...".
    why = flow.why if flow.why.startswith("not measured") else f"not measured: {flow.why}"
    lines = ["; ".join(measured_texts(flow, several_ports)) or why]
    lines += [responder_line(seen) for seen in flow.responders]
    if flow.measured:  # a gap's "why" says it already
        lines += [host.line for host in flow.missing]
    return lines


def responder_line(seen: ResponderView) -> str:
    """The other direction, in a line: what the responder on the destination saw."""
    if not seen.listening:
        return f"responder on {seen.hostname}: not listening ({seen.why})"
    if not seen.probes:
        return (
            f"responder on {seen.hostname}: received none of the {plural(seen.asked, 'probe')}"
            " with its token"
        )
    return (
        f"responder on {seen.hostname}: received {seen.probes:,} of the "
        f"{plural(seen.asked, 'probe')} with its token, from " + ", ".join(seen.sources)
    )


def site_headline(view: SiteView, fail_on_warning: bool = False) -> str:
    """As ``headline`` for one report: a view with an interrupted report, with a host
    whose check did not run, or with nothing measured, never says PASS; with
    ``fail_on_warning`` a warning makes it a FAIL, as the exit code does."""
    if view.failing:
        if view.missing:
            return "FAIL (INCOMPLETE)"
        return "FAIL" if view.complete else "FAIL (INTERRUPTED)"
    if view.missing:
        return "INCOMPLETE"
    if not view.complete:
        return "INTERRUPTED"
    if not any(f.measured for f in view.flows):
        return "NOTHING CHECKED"
    return "FAIL (--fail-on warning)" if fail_on_warning and view.warning else "PASS"


def _prober_tokens(view: SiteView) -> set[str]:
    return {r.parameters.responder for _, r in view.reports if r.parameters.responder}


def _unmatched(view: SiteView) -> str:
    """Responder reports of a token no prober report used: they match nothing."""
    tokens = _prober_tokens(view)
    lost = [f"{path} ({r.fingerprint})" for path, r in view.listens if r.fingerprint not in tokens]
    if not lost:
        return ""
    return "; responder reports of a token no prober report used (nothing matched): " + ", ".join(
        lost
    )


def site_summary(view: SiteView, fail_on_warning: bool = False) -> str:
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for flow in view.flows:
        if flow.verdict:
            counts[flow.verdict.value] += 1
    missing = (
        f", {plural(len(view.missing), 'host')} not measured: "
        + ", ".join(m.host for m in view.missing[:MISSING_NAMED])
        + (
            f" and {len(view.missing) - MISSING_NAMED:,} more"
            if len(view.missing) > MISSING_NAMED
            else ""
        )
        if view.missing
        else ""
    )
    return (
        f"{site_headline(view, fail_on_warning)}: {plural(len(view.reports), 'report')}, "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
        + f", {len(view.gaps)} flows needed but measured by nobody (gaps), "
        f"{len(view.not_applicable)} not applicable" + missing + _unmatched(view)
    )


MISSING_NAMED = 10
"""Hosts not measured named in the summary line; the rest are counted."""


def site_json(view: SiteView) -> str:
    return json.dumps(site_dict(view), indent=2) + "\n"


def site_dict(view: SiteView) -> dict[str, object]:
    """The site view as JSON: reports, flows (who measured each, who left it out, what
    responders saw, which missing hosts did not measure it), the missing hosts, gaps and
    flows not applicable."""
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
            for path, r in view.reports
        ],
        "flows": [_flow_dict(f) for f in view.flows],
        "responder_reports": [
            {
                "path": str(path),
                "hostname": r.hostname,
                "complete": r.complete,
                "started": r.started,
                "fingerprint": r.fingerprint,
                "matched": r.fingerprint in _prober_tokens(view),
            }
            for path, r in view.listens
        ],
        "missing": [
            {"host": m.host, "roles": [r.value for r in m.roles], "reason": m.reason}
            for m in view.missing
        ],
        "gaps": [f.entry.id for f in view.gaps],
        "not_applicable": [f.entry.id for f in view.not_applicable],
    }


def _flow_dict(f: SiteFlow) -> dict[str, object]:
    return {
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
        "missing": [{"host": m.host, "reason": m.reason} for m in f.missing],
        "responders": [
            {
                "report": str(r.report),
                "hostname": r.hostname,
                "listening": r.listening,
                "probes": r.probes,
                "asked": r.asked,
                "sources": list(r.sources),
                "why": r.why,
            }
            for r in f.responders
        ],
    }
