"""The JUnit XML report, for CI servers.

Valid for both common JUnit schemas: Ant's JUnit.xsd (Windy Road), the stricter, and the
Jenkins xunit plugin's. That means an attribute-less testsuites; one testsuite with id,
package, hostname and a timestamp without zone or fraction, whose children come in the
order properties, testcase*, system-out, system-err (each of the three present); and test
cases holding at most one failure or error, nothing else. So what a test case cannot hold
goes to the suite: the run's facts (interrupted or not) to properties, the warnings to
system-out. JUnit has no warning: a warned probe passes.

It never says PASS for a run that was interrupted or probed nothing: a test case of the run
itself errs then (``RUN_CASE``), since a CI server sees only what this file says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape, quoteattr

from sepcheck.model import Expect
from sepcheck.render.matrix import headline, summary_line
from sepcheck.render.unique import UniqueResults
from sepcheck.report.model import ReportHead
from sepcheck.report.rows import ResultRow
from sepcheck.results import Verdict

# Characters XML 1.0 cannot carry at all, not even as references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def _attr(value: object) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)))


def _expected(result: ResultRow) -> str:
    return "reachable" if result.expect is Expect.REACHABLE else "not reachable (must not reach)"


def _outcome(result: ResultRow) -> str:
    at = result.address
    where = f" at {at}" if at and at != result.host else ""
    # The note says what an application check found ("open but not SEPM: ...", a
    # certificate about to expire): without it an open port's failure reads as nonsense.
    said = f": {result.note}" if result.note else ""
    return f"{result.state.value} ({result.detail}){where}{said}; expected {_expected(result)}"


def junit_case_name(result: ResultRow) -> tuple[str, str]:
    """The test case's classname and name: ``sepcheck.<flow>`` and ``<host> <proto>/<port>``.

    GitLab and Jenkins follow a test's history by suite, classname and name, so these hold
    only what identifies the check: no state, no warning text (a warning that clears would
    start a new test), and no resolved address (a name's address may change between runs;
    the failure message says which address was probed)."""
    return "sepcheck." + result.flow, f"{result.host} {result.protocol.value}/{result.port}"


RUN_CASE = ("sepcheck.run", "complete")
"""The test case that stands for the run itself: it errs when the run was interrupted or
probed nothing, so that such a run never shows as green (every probe case may pass)."""


def _run_error(head: ReportHead) -> tuple[str, str] | None:
    """The error of the run's own test case (its type and message), if it has one."""
    if not head.complete:
        return (
            "interrupted",
            f"interrupted after {head.summary.probes:,} of {head.summary.planned:,} probes: "
            "the flows and hosts not probed are missing from this report",
        )
    if headline(head) == "NOTHING CHECKED":
        return ("nothing-checked", "nothing was probed: no planned flow has a destination")
    return None


def _suite_start(head: ReportHead, unique: UniqueResults, errors: int) -> str:
    # The suite's name never carries the outcome: a CI server keys a test's history by it.
    suite = f"sepcheck {', '.join(head.vantage.role)} on {head.vantage.hostname}"
    stamp = head.started_at[:19]  # 2026-11-29T02:41:57: no fraction, no zone
    return (
        f'  <testsuite name={_attr(suite)} id="0" package="sepcheck" '
        f"hostname={_attr(head.vantage.hostname or 'localhost')} "
        f'timestamp="{stamp}" tests="{unique.count + 1}" '
        f'failures="{unique.verdicts.get(Verdict.FAIL, 0)}" errors="{errors}" '
        f'time="{head.summary.duration_s:.3f}">\n'
    )


def _properties(head: ReportHead) -> Iterator[str]:
    properties = {
        "sepcheck.headline": headline(head),
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


def _run_case(run_error: tuple[str, str] | None) -> str:
    classname, name = RUN_CASE
    start = f'    <testcase classname={_attr(classname)} name={_attr(name)} time="0"'
    if run_error is None:
        return start + "/>\n"
    kind, message = run_error
    return (
        f"{start}>\n      <error message={_attr(message)} type={_attr(kind)}>{_text(message)}"
        "</error>\n    </testcase>\n"
    )


def _probe_case(r: ResultRow) -> str:
    classname, name = junit_case_name(r)
    seconds = (r.rtt_ms or 0) / 1000
    start = f'    <testcase classname={_attr(classname)} name={_attr(name)} time="{seconds:.6f}"'
    if r.verdict is not Verdict.FAIL:
        return start + "/>\n"
    outcome = _outcome(r)
    return (
        f"{start}>\n      <failure message={_attr(outcome)} type={_attr(r.state.value)}>"
        f"{_text(outcome)}</failure>\n    </testcase>\n"
    )


def _warnings(unique: UniqueResults) -> Iterator[str]:
    if not unique.verdicts.get(Verdict.WARN):
        return  # no pass over the results for nothing
    for r in unique:
        if r.verdict is Verdict.WARN:
            classname, name = junit_case_name(r)
            line = f"warning: {classname} {name}: {r.note or _outcome(r)}"
            yield _text(line.replace("\n", " ")) + "\n"


def junit_chunks(head: ReportHead, rows: Iterable[ResultRow]) -> Iterator[str]:
    """One test case per flow and destination host, plus one for the run itself; failures
    carry state, reason and what was expected. ``rows`` is read several times."""
    unique = UniqueResults(rows, junit_case_name)
    run_error = _run_error(head)
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
    yield _suite_start(head, unique, int(run_error is not None))
    yield from _properties(head)
    yield _run_case(run_error)
    for r in unique:
        yield _probe_case(r)
    yield f"    <system-out>{_text(summary_line(head))}\n"
    yield from _warnings(unique)
    yield "</system-out>\n    <system-err/>\n  </testsuite>\n</testsuites>\n"
