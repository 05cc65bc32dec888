"""The JUnit report against the rules of what reads it: a CI server's JUnit schema and its
test history."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from sepcheck.catalogue import Catalogue
from sepcheck.model import Role
from sepcheck.plan import Probe
from sepcheck.render.junit import junit_chunks
from sepcheck.report.rows import SpooledRows
from sepcheck.results import Stage, State
from tests.test_formats_consumers import LISTED_TWICE, filtered_every_third, make_run, render

# -- JUnit: Ant's JUnit.xsd (Windy Road) and the Jenkins xunit schema ---------------------

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")  # no zone, no fraction
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
SUITE_REQUIRED = {"name", "timestamp", "hostname", "tests", "failures", "errors", "time"}
SUITE_ALLOWED = SUITE_REQUIRED | {"skipped", "package", "id"}


def check_junit_xsd(text: str) -> ET.Element:
    """What Ant's JUnit.xsd (github.com/windyroad/JUnit-Schema) requires, the stricter of
    the two schemas; whatever it accepts here, the Jenkins xunit plugin's junit-10.xsd
    accepts too (its testsuite takes these children in any order, its testcase any of
    them). lxml is not installed, so the rules are checked one by one."""
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    assert root.attrib == {}
    assert root.text is None or not root.text.strip()
    for suite in root:
        assert suite.tag == "testsuite"
        assert SUITE_REQUIRED | {"package", "id"} <= set(suite.attrib) <= SUITE_ALLOWED
        assert TIMESTAMP.fullmatch(suite.get("timestamp", ""))
        assert suite.get("name", "").strip()
        assert suite.get("hostname", "").strip()
        for count in ("tests", "failures", "errors", "id"):
            int(suite.get(count, "x"))
        assert DECIMAL.fullmatch(suite.get("time", ""))
        tags = [child.tag for child in suite]
        # xs:sequence: properties, testcase*, system-out, system-err, each of the three once.
        assert tags[0] == "properties"
        assert tags[-2:] == ["system-out", "system-err"]
        assert set(tags[1:-2]) <= {"testcase"}
        properties = suite[0]
        assert properties.text is None or not properties.text.strip()
        for prop in properties:
            assert prop.tag == "property"
            assert set(prop.attrib) == {"name", "value"}
            assert prop.get("name", "").strip()
            assert len(prop) == 0
        for out in suite[-2:]:
            assert len(out) == 0  # text only
        cases = suite[1:-2]
        for case in cases:
            assert set(case.attrib) == {"name", "classname", "time"}
            assert DECIMAL.fullmatch(case.get("time", ""))
            assert len(case) <= 1  # xs:choice minOccurs=0: one of skipped, error, failure
            for outcome in case:
                assert outcome.tag in {"skipped", "error", "failure"}
                if outcome.tag != "skipped":
                    assert "type" in outcome.attrib
                    assert set(outcome.attrib) <= {"type", "message"}
                assert len(outcome) == 0
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors", "")) == sum(c.find("error") is not None for c in cases)
    return root


def cases_of(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    cases = list(root.iter("testcase"))
    keyed = {(c.get("classname", ""), c.get("name", "")): c for c in cases}
    assert len(keyed) == len(cases), "two test cases with the same classname and name"
    return keyed


def properties_of(root: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in root.iter("property")}


def test_junit_is_valid_for_ant_junit_xsd(catalogue: Catalogue, tmp_path: Path) -> None:
    head, text = render(junit_chunks, catalogue, tmp_path, state=filtered_every_third)
    root = check_junit_xsd(text)
    cases = cases_of(root)
    assert len(cases) == head.summary.probes + 1  # and the run's own case
    props = properties_of(root)
    assert props["sepcheck.headline"] == "FAIL"
    assert props["sepcheck.complete"] == "true"


def test_junit_names_stay_when_a_warning_clears(catalogue: Catalogue, tmp_path: Path) -> None:
    """GitLab and Jenkins follow a test by suite, classname and name: a warning (refused
    before installation: "path open, nothing listening") must not rename its test."""
    run = {"stage": Stage.PRE_INSTALL}
    _, warned = render(junit_chunks, catalogue, tmp_path, state=lambda i, p: State.REFUSED, **run)
    _, cleared = render(junit_chunks, catalogue, tmp_path, **run)
    warned_root, cleared_root = check_junit_xsd(warned), check_junit_xsd(cleared)
    assert cases_of(warned_root).keys() == cases_of(cleared_root).keys()
    suites = [r.find("testsuite") for r in (warned_root, cleared_root)]
    assert len({s.get("name") for s in suites if s is not None}) == 1
    names = " ".join(name for _, name in cases_of(warned_root))
    assert "nothing listening" not in names
    assert "warning" not in names
    out = warned_root.findtext("testsuite/system-out") or ""
    assert "path open, nothing listening" in out
    assert "sepcheck.manager-client-push-smb 198.18.16.1 tcp/445" in out
    assert ("sepcheck.manager-client-push-smb", "198.18.16.1 tcp/445") in cases_of(cleared_root)


def test_junit_interrupted_run_keeps_its_suite_and_is_not_green(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    _, whole = render(junit_chunks, catalogue, tmp_path)
    _, cut = render(junit_chunks, catalogue, tmp_path, complete=False, measured=5)
    whole_root, cut_root = check_junit_xsd(whole), check_junit_xsd(cut)
    whole_suite, cut_suite = whole_root.find("testsuite"), cut_root.find("testsuite")
    assert whole_suite is not None
    assert cut_suite is not None
    assert whole_suite.get("name") == cut_suite.get("name")
    assert whole_suite.get("errors") == whole_suite.get("failures") == "0"  # green
    # Every probe of the interrupted run passed, but the run does not: it errs.
    assert cut_suite.get("failures") == "0"
    assert cut_suite.get("errors") == "1"
    run = cases_of(cut_root)[("sepcheck.run", "complete")]
    error = run.find("error")
    assert error is not None
    assert error.get("type") == "interrupted"
    assert "after 5 of 11 probes" in error.get("message", "")
    props = properties_of(cut_root)
    assert props["sepcheck.complete"] == "false"
    assert props["sepcheck.headline"] == "INTERRUPTED"
    assert props["sepcheck.verdict"] == "pass"  # as the JSON report says


def test_junit_run_that_probed_nothing_is_not_green(catalogue: Catalogue, tmp_path: Path) -> None:
    _, text = render(junit_chunks, catalogue, tmp_path, roles=(Role.DATABASE,))
    root = check_junit_xsd(text)
    (case,) = cases_of(root).values()
    error = case.find("error")
    assert error is not None
    assert error.get("type") == "nothing-checked"
    assert properties_of(root)["sepcheck.headline"] == "NOTHING CHECKED"


def test_junit_host_listed_twice_is_one_test(catalogue: Catalogue, tmp_path: Path) -> None:
    seen: set[tuple[str, str]] = set()

    def second_copy_fails(i: int, probe: Probe) -> State:
        first = (probe.flow, probe.host) not in seen
        seen.add((probe.flow, probe.host))
        return State.OPEN if first else State.FILTERED

    _, text = render(junit_chunks, catalogue, tmp_path, hosts=LISTED_TWICE, state=second_copy_fails)
    root = check_junit_xsd(text)
    cases = cases_of(root)  # asserts that no two cases share classname and name
    assert len(cases) == 2 * 4 + 3 + 1
    smb = cases[("sepcheck.manager-client-push-smb", "198.18.16.1 tcp/445")]
    assert smb.find("failure") is not None  # the worse copy is the one reported


def test_junit_survives_control_characters(catalogue: Catalogue, tmp_path: Path) -> None:
    """XML 1.0 cannot carry most control characters, not even escaped: an error text with
    one (a terminal escape from a socket error) must not make the whole file unreadable."""
    head, collector = make_run(catalogue, tmp_path)
    spool = collector.spools[0]
    line = spool.read_text().splitlines()[0]
    record = json.loads(line)
    record.update(verdict="fail", state="filtered", detail="no reply \x1b[31m\x00 after 2 tries")
    with spool.open("a") as out:
        out.write(json.dumps(record) + "\n")
    text = "".join(junit_chunks(head, SpooledRows.of(collector.spools)))
    collector.close()
    root = check_junit_xsd(text)
    failure = next(root.iter("failure"))
    assert failure.get("message", "").startswith("filtered (no reply \ufffd[31m\ufffd after")
