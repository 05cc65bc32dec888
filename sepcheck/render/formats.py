"""Report formats for other systems: JUnit XML (CI servers), Prometheus text exposition
(node_exporter's textfile collector) and Markdown (change tickets).

Each renderer yields text chunks and reads results from the run's spool files as it goes,
so a large run is never held in memory. The JSON report is report/writer.py's.

None of them says PASS for a run that was interrupted or probed nothing (``headline``):
the JSON report keeps its pass/fail ``verdict`` beside ``complete``, but a CI server, an
alert rule or a ticket reader sees only what these formats say.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sepcheck.render.matrix import headline, summary_line
from sepcheck.report.model import FlowResult, ReportHead
from sepcheck.report.writer import spool_lines
from sepcheck.results import State, Verdict


def spooled_results(spools: Sequence[Path]) -> Iterator[dict[str, Any]]:
    for line in spool_lines(spools):
        yield json.loads(line)


def flow_result_text(flow: FlowResult, *, detailed: bool) -> str:
    """One flow's result in words: the state of its single probe, or counts per state and
    the hosts of a non-passing verdict, grouped by what explains them (their note, such as
    "path open, nothing listening"; with ``detailed``, their state and reason too)."""
    if flow.probes == 1 and flow.worst:
        only = flow.worst[0]
        result = f"{only.state.value} ({only.detail})" + (f": {only.note}" if only.note else "")
    else:
        result = ", ".join(f"{n:,} {state}" for state, n in flow.states.items())
        if flow.verdict.value != "pass" and flow.worst:
            groups: dict[str, list[str]] = {}
            for h in flow.worst:
                label = h.note
                if detailed:
                    label = f"{h.state.value} ({h.detail})" + (f", {h.note}" if h.note else "")
                groups.setdefault(label, []).append(h.host)
            named = "; ".join(
                f"{label}: {', '.join(hosts)}" if label else ", ".join(hosts)
                for label, hosts in groups.items()
            )
            more = f" and {flow.worst_more:,} more" if flow.worst_more else ""
            result += f"; {flow.verdict.value}: {named}{more}"
    return ("must not reach: " + result) if flow.expect == "unreachable" else result


# -- One result per identity -------------------------------------------------------------

_RANK = {v.value: v.rank for v in Verdict}


class UniqueResults:
    """The results with one per identity (``key``): a host listed twice in the topology (a
    network and an address inside it, two overlapping networks or ranges) is probed and
    judged twice, but a Prometheus series or a JUnit test case must exist once (node_exporter
    rejects a whole file for one duplicate). Of a repeated identity the worst verdict is
    kept, so a failure is never hidden behind the copy that passed.

    Two passes over the spools find the repeats without holding the results: the first
    keeps only the hash of each identity (some 70 bytes a result), the second keeps the
    results whose hash came twice (few: a hash clash only costs a look at the full key)."""

    def __init__(self, spools: Sequence[Path], key: Callable[[dict[str, Any]], Hashable]) -> None:
        self.spools = spools
        self.key = key
        seen: set[int] = set()
        twice: set[int] = set()
        verdicts: Counter[str] = Counter()
        for r in spooled_results(spools):
            verdicts[r["verdict"]] += 1
            h = hash(key(r))
            if h in seen:
                twice.add(h)
            seen.add(h)
        del seen
        self.kept: dict[Hashable, dict[str, Any]] = {}
        if twice:
            for r in spooled_results(spools):
                k = key(r)
                if hash(k) not in twice:
                    continue
                verdicts[r["verdict"]] -= 1
                kept = self.kept.get(k)
                if kept is None or _RANK[r["verdict"]] > _RANK[kept["verdict"]]:
                    self.kept[k] = r
            verdicts.update(r["verdict"] for r in self.kept.values())
        self.verdicts = verdicts
        """Results by verdict, one per identity."""

    @property
    def count(self) -> int:
        return sum(self.verdicts.values())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        done: set[Hashable] = set()
        for r in spooled_results(self.spools):
            if not self.kept:
                yield r
                continue
            k = self.key(r)
            kept = self.kept.get(k)
            if kept is None:
                yield r
            elif k not in done:
                done.add(k)
                yield kept


# -- JUnit -------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, not even as references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def _attr(value: object) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)))


def _expected(result: dict[str, Any]) -> str:
    return "reachable" if result["expect"] == "reachable" else "not reachable (must not reach)"


def _outcome(result: dict[str, Any]) -> str:
    at = result["address"]
    where = f" at {at}" if at and at != result["host"] else ""
    return f"{result['state']} ({result['detail']}){where}; expected {_expected(result)}"


def junit_case_name(result: dict[str, Any]) -> tuple[str, str]:
    """The test case's classname and name: ``sepcheck.<flow>`` and ``<host> <proto>/<port>``.

    GitLab and Jenkins follow a test's history by suite, classname and name, so these hold
    only what identifies the check: no state, no warning text (a warning that clears would
    start a new test), and no resolved address (a name's address may change between runs;
    the failure message says which address was probed)."""
    return "sepcheck." + result["flow"], f"{result['host']} {result['protocol']}/{result['port']}"


def _junit_key(result: dict[str, Any]) -> Hashable:
    return junit_case_name(result)


RUN_CASE = ("sepcheck.run", "complete")
"""The test case that stands for the run itself: it errs when the run was interrupted or
probed nothing, so that such a run never shows as green (every probe case may pass)."""


def junit_chunks(head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    """One test case per flow and destination host, plus one for the run itself; failures
    carry state, reason and what was expected.

    Valid for both common JUnit schemas: Ant's JUnit.xsd (Windy Road), the stricter, and
    the Jenkins xunit plugin's. That means an attribute-less testsuites; one testsuite with
    id, package, hostname and a timestamp without zone or fraction, whose children come in
    the order properties, testcase*, system-out, system-err (each of the three present);
    and test cases holding at most one failure or error, nothing else. So what a test case
    cannot hold goes to the suite: the run's facts (interrupted or not) to properties, the
    warnings to system-out. JUnit has no warning: a warned probe passes."""
    word = headline(head)
    unique = UniqueResults(spools, _junit_key)
    run_error: tuple[str, str] | None = None
    if not head.complete:
        run_error = (
            "interrupted",
            f"interrupted after {head.summary.probes:,} of {head.summary.planned:,} probes: "
            "the flows and hosts not probed are missing from this report",
        )
    elif word == "NOTHING CHECKED":
        run_error = ("nothing-checked", "nothing was probed: no planned flow has a destination")
    # The suite's name never carries the outcome: a CI server keys a test's history by it.
    suite = f"sepcheck {', '.join(head.vantage.role)} on {head.vantage.hostname}"
    stamp = head.started_at[:19]  # 2026-11-29T02:41:57: no fraction, no zone
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
    yield (
        f'  <testsuite name={_attr(suite)} id="0" package="sepcheck" '
        f"hostname={_attr(head.vantage.hostname or 'localhost')} "
        f'timestamp="{stamp}" tests="{unique.count + 1}" '
        f'failures="{unique.verdicts.get("fail", 0)}" errors="{int(run_error is not None)}" '
        f'time="{head.summary.duration_s:.3f}">\n'
    )
    properties = {
        "sepcheck.headline": word,
        "sepcheck.verdict": head.verdict.value,
        "sepcheck.complete": "true" if head.complete else "false",
        "sepcheck.probes": head.summary.probes,
        "sepcheck.planned": head.summary.planned,
        "sepcheck.roles": " ".join(head.vantage.role),
        "sepcheck.stage": head.parameters.stage,
        "sepcheck.started_at": head.started_at,
        "sepcheck.finished_at": head.finished_at,
        "sepcheck.topology_sha256": head.topology.sha256,
        "sepcheck.tool_version": head.tool_version,
    }
    yield "    <properties>\n"
    for name, value in properties.items():
        yield f"      <property name={_attr(name)} value={_attr(value)}/>\n"
    yield "    </properties>\n"
    classname, name = RUN_CASE
    yield f'    <testcase classname={_attr(classname)} name={_attr(name)} time="0"'
    if run_error is None:
        yield "/>\n"
    else:
        kind, message = run_error
        yield (
            f">\n      <error message={_attr(message)} type={_attr(kind)}>{_text(message)}"
            "</error>\n    </testcase>\n"
        )
    for r in unique:
        classname, name = junit_case_name(r)
        seconds = (r["rtt_ms"] or 0) / 1000
        yield (
            f'    <testcase classname={_attr(classname)} name={_attr(name)} time="{seconds:.6f}"'
        )
        if r["verdict"] == "fail":
            outcome = _outcome(r)
            yield (
                f">\n      <failure message={_attr(outcome)} type={_attr(r['state'])}>"
                f"{_text(outcome)}</failure>\n    </testcase>\n"
            )
        else:
            yield "/>\n"
    yield f"    <system-out>{_text(summary_line(head))}\n"
    for r in unique:
        if r["verdict"] == "warn":
            classname, name = junit_case_name(r)
            line = f"warning: {classname} {name}: {r.get('note') or _outcome(r)}"
            yield _text(line.replace("\n", " ")) + "\n"
    yield "</system-out>\n    <system-err/>\n  </testsuite>\n</testsuites>\n"


# -- Prometheus --------------------------------------------------------------------------


def _label(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, object]) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items()) + "}"


SERIES_LABELS = ("flow", "source", "destination", "host", "address", "protocol", "port")
"""What identifies a probe's series. Nothing measured is a label (state, verdict): a label
that changes with the outcome starts a new series, and breaks every graph and alert."""


def _series_key(r: dict[str, Any]) -> Hashable:
    return tuple((r[k] or "") if k == "address" else r[k] for k in SERIES_LABELS)


def _probe_labels(r: dict[str, Any], **extra: str) -> str:
    pairs: dict[str, object] = {k: r[k] for k in SERIES_LABELS}
    pairs["address"] = r["address"] or ""
    pairs.update(extra)
    return _labels(pairs)


def _gauge(name: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"


PROMETHEUS_METRICS = (
    "sepcheck_flow_up",
    "sepcheck_probe_warning",
    "sepcheck_probe_state",
    "sepcheck_probe_rtt_seconds",
    "sepcheck_probes",
    "sepcheck_flows",
    "sepcheck_run_timestamp_seconds",
    "sepcheck_run_duration_seconds",
    "sepcheck_run_complete",
    "sepcheck_run_pass",
)


def prometheus_chunks(head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    """Text exposition format 0.0.4, one family at a time (the format requires it).

    Every probe series is identified by SERIES_LABELS alone and exists once (a host listed
    twice gives one series, its worst result); its state is a state set, one series per
    possible state with 1 for the one measured, so the series stay the same run after run
    and their number is bounded (five per probe)."""
    unique = UniqueResults(spools, _series_key)
    yield _gauge(
        "sepcheck_flow_up", "1 when the probe met its expectation (pass or warn), 0 when it failed."
    )
    for r in unique:
        yield f"sepcheck_flow_up{_probe_labels(r)} {0 if r['verdict'] == 'fail' else 1}\n"
    yield _gauge(
        "sepcheck_probe_warning",
        "1 when the probe met its expectation with a warning (the report's note says why).",
    )
    for r in unique:
        yield f"sepcheck_probe_warning{_probe_labels(r)} {int(r['verdict'] == 'warn')}\n"
    yield _gauge(
        "sepcheck_probe_state",
        "What the probe found: 1 for the state measured, 0 for the other states "
        "(open, refused, filtered, open|filtered, unresolved).",
    )
    for r in unique:
        for state in State:
            found = int(r["state"] == state.value)
            yield f"sepcheck_probe_state{_probe_labels(r, state=state.value)} {found}\n"
    yield _gauge("sepcheck_probe_rtt_seconds", "Round-trip time of the answer, when one came.")
    for r in unique:
        if r["rtt_ms"] is not None:
            yield f"sepcheck_probe_rtt_seconds{_probe_labels(r)} {r['rtt_ms'] / 1000:.6f}\n"
    yield _gauge("sepcheck_probes", "Probes of the last run, by state (every state, 0 or more).")
    for state in State:
        count = head.summary.states.get(state.value, 0)
        yield f"sepcheck_probes{_labels({'state': state.value})} {count}\n"
    yield _gauge("sepcheck_flows", "Flows of the last run, by verdict.")
    for verdict in ("pass", "warn", "fail"):
        count = head.summary.flows.get(verdict, 0)
        yield f"sepcheck_flows{_labels({'verdict': verdict})} {count}\n"
    started = datetime.fromisoformat(head.started_at.replace("Z", "+00:00")).timestamp()
    passed = headline(head) == "PASS"
    for name, help_text, value in (
        ("sepcheck_run_timestamp_seconds", "When the last run started (Unix time).", started),
        ("sepcheck_run_duration_seconds", "How long the last run took.", head.summary.duration_s),
        ("sepcheck_run_complete", "1 when the last run was not interrupted.", int(head.complete)),
        (
            "sepcheck_run_pass",
            "1 when the last run passed: complete, something probed, nothing failed.",
            int(passed),
        ),
    ):
        yield f"{_gauge(name, help_text)}{name} {value}\n"


# -- Markdown ----------------------------------------------------------------------------

# Backslash first: it is the escape character itself.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|"})


def _md(text: str) -> str:
    """Text from a catalogue, a topology or a result, as literal Markdown: raw HTML shown,
    not run (GitHub and GitLab render tags they allow), and no character that ends a table
    cell or starts a link, code span or emphasis."""
    return html.escape(text, quote=False).translate(_MD_SPECIAL).replace("\n", " ")


def _code(text: str) -> str:
    """A code span around any text: inside one, HTML is not interpreted, but a backtick
    would end it (so the fence is longer than any run of them) and a pipe still ends a
    table cell (so it is escaped, which GitHub's tables read even in code)."""
    text = text.replace("\n", " ").replace("|", "\\|")
    runs = [len(m) for m in re.findall("`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_report(head: ReportHead) -> str:
    """The matrix as Markdown, for pasting into a change ticket."""
    s = head.summary
    interrupted = f" (**interrupted** after {s.probes:,} of {s.planned:,} probes)"
    lines = [
        f"## sepcheck: {headline(head)}",
        "",
        f"From {_code(head.vantage.hostname)} as {_md(', '.join(head.vantage.role))}, stage "
        f"{_md(head.parameters.stage)}, {s.probes:,} probes in {s.duration_s:.1f} s, "
        f"started {head.started_at}" + ("" if head.complete else interrupted) + ".",
        "",
        "| verdict | flow | port | result | purpose |",
        "|---|---|---|---|---|",
    ]
    for f in s.flow_results:
        result = flow_result_text(f, detailed=False)
        lines.append(
            f"| **{f.verdict.value.upper()}** | {_code(f.flow)} | {f.protocol}/{f.port} | "
            f"{_md(result)} | {_md(f.purpose)} |"
        )
    if s.gaps:
        lines += ["", "Not checked (no destination hosts): " + ", ".join(_code(g) for g in s.gaps)]
    return "\n".join(lines) + "\n"
