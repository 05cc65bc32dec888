"""Report formats for other systems: JUnit XML (CI servers), Prometheus text exposition
(node_exporter's textfile collector) and Markdown (change tickets).

Each renderer yields text chunks and reads results from the run's spool files as it goes,
so a large run is never held in memory. The JSON report is report/writer.py's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sepcheck.report.model import FlowResult, ReportHead
from sepcheck.report.writer import spool_lines


def spooled_results(spools: Sequence[Path]) -> Iterator[dict[str, Any]]:
    for line in spool_lines(spools):
        yield json.loads(line)


def flow_result_text(flow: FlowResult, *, detailed: bool) -> str:
    """One flow's result in words: the state of its single probe, or counts per state and
    the hosts of a non-passing verdict (each with its state when ``detailed``)."""
    if flow.probes == 1 and flow.worst:
        result = f"{flow.worst[0].state.value} ({flow.worst[0].detail})"
    else:
        result = ", ".join(f"{n:,} {state}" for state, n in flow.states.items())
        if flow.verdict.value != "pass" and flow.worst:
            named = ", ".join(
                f"{h.host} {h.state.value} ({h.detail})" if detailed else h.host for h in flow.worst
            )
            more = f" and {flow.worst_more:,} more" if flow.worst_more else ""
            result += f"; {flow.verdict.value}: {named}{more}"
    return ("must not reach: " + result) if flow.expect == "unreachable" else result


# -- JUnit -------------------------------------------------------------------------------


def _expected(result: dict[str, Any]) -> str:
    return "reachable" if result["expect"] == "reachable" else "not reachable (must not reach)"


def junit_chunks(head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    """One test case per flow and destination; failures carry state, reason and what was
    expected. Kept to what the strictest common JUnit schema (Jenkins' xunit XSD) allows:
    an attribute-less testsuites, one testsuite with id, package, hostname and a timestamp
    without zone or fraction, and test cases holding at most a failure. JUnit has no
    warning: a warned probe passes, with the warning in its name."""
    verdicts = head.summary.verdicts
    suite = f"sepcheck {', '.join(head.vantage.role)} on {head.vantage.hostname}"
    if not head.complete:
        suite += " (interrupted)"
    stamp = head.started_at[:19]  # 2026-11-29T02:41:57: no fraction, no zone
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
    yield (
        f'  <testsuite name={quoteattr(suite)} id="0" package="sepcheck" '
        f"hostname={quoteattr(head.vantage.hostname or 'localhost')} "
        f'timestamp="{stamp}" tests="{head.summary.probes}" '
        f'failures="{verdicts.get("fail", 0)}" errors="0" skipped="0" '
        f'time="{head.summary.duration_s:.3f}">\n'
    )
    for r in spooled_results(spools):
        name = f"{r['host']} {r['protocol']}/{r['port']}"
        outcome = f"{r['state']} ({r['detail']}); expected {_expected(r)}"
        if r["verdict"] == "warn":
            name += f" (warning: {r.get('note') or outcome})"
        classname = quoteattr("sepcheck." + r["flow"])
        seconds = (r["rtt_ms"] or 0) / 1000
        yield f'    <testcase classname={classname} name={quoteattr(name)} time="{seconds:.6f}"'
        if r["verdict"] == "fail":
            yield (
                f">\n      <failure message={quoteattr(outcome)} type={quoteattr(r['state'])}>"
                f"{escape(outcome)}</failure>\n    </testcase>\n"
            )
        else:
            yield "/>\n"
    yield "  </testsuite>\n</testsuites>\n"


# -- Prometheus --------------------------------------------------------------------------


def _label(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, object]) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items()) + "}"


def _probe_labels(r: dict[str, Any]) -> str:
    return _labels(
        {
            "flow": r["flow"],
            "source": r["source"],
            "destination": r["destination"],
            "host": r["host"],
            "address": r["address"] or "",
            "protocol": r["protocol"],
            "port": r["port"],
        }
    )


def prometheus_chunks(head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    """Text exposition format 0.0.4, one family at a time (the format requires it)."""
    yield "# HELP sepcheck_flow_up 1 when the probe met its expectation (pass or warn).\n"
    yield "# TYPE sepcheck_flow_up gauge\n"
    for r in spooled_results(spools):
        extra = f',state="{_label(r["state"])}",verdict="{r["verdict"]}"}}'
        labels = _probe_labels(r)[:-1] + extra
        yield f"sepcheck_flow_up{labels} {0 if r['verdict'] == 'fail' else 1}\n"
    yield "# HELP sepcheck_probe_rtt_seconds Round-trip time of the answer, when one came.\n"
    yield "# TYPE sepcheck_probe_rtt_seconds gauge\n"
    for r in spooled_results(spools):
        if r["rtt_ms"] is not None:
            yield f"sepcheck_probe_rtt_seconds{_probe_labels(r)} {r['rtt_ms'] / 1000:.6f}\n"
    yield "# HELP sepcheck_probes Probes of the last run, by state.\n"
    yield "# TYPE sepcheck_probes gauge\n"
    for state, count in sorted(head.summary.states.items()):
        yield f"sepcheck_probes{_labels({'state': state})} {count}\n"
    yield "# HELP sepcheck_flows Flows of the last run, by verdict.\n"
    yield "# TYPE sepcheck_flows gauge\n"
    for verdict in ("pass", "warn", "fail"):
        count = head.summary.flows.get(verdict, 0)
        yield f"sepcheck_flows{_labels({'verdict': verdict})} {count}\n"
    started = datetime.fromisoformat(head.started_at.replace("Z", "+00:00")).timestamp()
    for name, help_text, value in (
        ("sepcheck_run_timestamp_seconds", "When the last run started (Unix time).", started),
        ("sepcheck_run_duration_seconds", "How long the last run took.", head.summary.duration_s),
        ("sepcheck_run_complete", "1 when the last run was not interrupted.", int(head.complete)),
        ("sepcheck_run_pass", "1 when the last run passed.", int(head.verdict.value == "pass")),
    ):
        yield f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} {value}\n"


# -- Markdown ----------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(head: ReportHead) -> str:
    """The matrix as Markdown, for pasting into a change ticket."""
    s = head.summary
    lines = [
        f"## sepcheck: {head.verdict.value.upper()}",
        "",
        f"From `{head.vantage.hostname}` as {', '.join(head.vantage.role)}, stage "
        f"{head.parameters.stage}, {s.probes:,} probes in {s.duration_s:.1f} s, "
        f"started {head.started_at}" + ("" if head.complete else " (**interrupted**)") + ".",
        "",
        "| verdict | flow | port | result | purpose |",
        "|---|---|---|---|---|",
    ]
    for f in s.flow_results:
        result = flow_result_text(f, detailed=False)
        lines.append(
            f"| **{f.verdict.value.upper()}** | `{f.flow}` | {f.protocol}/{f.port} | "
            f"{_md(result)} | {_md(f.purpose)} |"
        )
    if s.gaps:
        lines += ["", "Not checked (no destination hosts): " + ", ".join(f"`{g}`" for g in s.gaps)]
    return "\n".join(lines) + "\n"
