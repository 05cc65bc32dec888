"""JUnit, Prometheus and Markdown reports, and --output picking the format by extension."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue
from sepcheck.cli import app
from sepcheck.render.formats import (
    FILE_KINDS,
    Extension,
    ReportFormat,
    extensions_hint,
    file_chunks,
    file_format,
    format_of_extension,
)
from sepcheck.render.junit import junit_chunks
from sepcheck.render.markdown import markdown_report
from sepcheck.render.prometheus import prometheus_chunks
from sepcheck.report.model import ReportHead
from sepcheck.report.rows import SpooledRows
from tests.test_report import make_head

runner = CliRunner()


@pytest.fixture
def run_data(catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[ReportHead, SpooledRows]]:
    head, collector = make_head(catalogue, tmp_path)
    yield head, SpooledRows.of(collector.spools)
    collector.close()


def test_junit(run_data: tuple[ReportHead, SpooledRows]) -> None:
    head, rows = run_data
    root = ET.fromstring("".join(junit_chunks(head, rows)))
    assert root.tag == "testsuites"
    assert root.attrib == {}  # the strict Jenkins schema allows no attribute here
    (suite,) = root
    assert suite.tag == "testsuite"
    assert [c.tag for c in suite][:1] == ["properties"]
    assert [c.tag for c in suite][-2:] == ["system-out", "system-err"]
    for attribute in (
        "name",
        "id",
        "package",
        "hostname",
        "timestamp",
        "tests",
        "failures",
        "errors",
        "time",
    ):
        assert suite.get(attribute), attribute
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", suite.get("timestamp", ""))
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    # One case per flow and host, and one for the run itself (complete: it passes).
    assert len(cases) == int(suite.get("tests", "0")) == head.summary.probes + 1
    assert len(failures) == int(suite.get("failures", "0")) == head.summary.verdicts["fail"]
    for case in cases:
        assert {child.tag for child in case} <= {"failure"}
        float(case.get("time", "x"))
    failure = failures[0].find("failure")
    assert failure is not None
    assert failure.get("type") == "filtered"
    assert "filtered (no-response after 2 tries); expected reachable" in failure.get("message", "")
    assert failures[0].get("classname", "").startswith("sepcheck.manager-")


def test_prometheus_parses(run_data: tuple[ReportHead, SpooledRows]) -> None:
    head, rows = run_data
    text = "".join(prometheus_chunks(head, rows))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    up = families["sepcheck_flow_up"]
    assert len(up.samples) == head.summary.probes
    down = [s for s in up.samples if s.value == 0]
    assert len(down) == head.summary.verdicts["fail"]
    measured = {
        frozenset((k, v) for k, v in s.labels.items() if k != "state"): s.labels["state"]
        for s in families["sepcheck_probe_state"].samples
        if s.value == 1
    }
    assert {measured[frozenset(s.labels.items())] for s in down} == {"filtered"}
    assert families["sepcheck_run_complete"].samples[0].value == 1
    assert families["sepcheck_run_duration_seconds"].samples[0].value == 1.5
    rtts = families["sepcheck_probe_rtt_seconds"].samples
    assert rtts
    assert all(s.value == 0.0005 for s in rtts)
    states = {s.labels["state"]: s.value for s in families["sepcheck_probes"].samples}
    assert set(states) == {"open", "refused", "filtered", "open|filtered", "unresolved"}
    assert {k: v for k, v in states.items() if v} == {
        k: float(v) for k, v in head.summary.states.items()
    }


def test_prometheus_escapes_labels() -> None:
    from sepcheck.render.prometheus import _labels

    awkward = 'a"b' + chr(92) + chr(10)  # a quote, a backslash and a newline
    text = "m" + _labels({"host": awkward}) + " 1\n"
    (family,) = text_string_to_metric_families(text)
    assert family.samples[0].labels["host"] == awkward


def test_markdown(run_data: tuple[ReportHead, SpooledRows]) -> None:
    head, _ = run_data
    text = markdown_report(head)
    assert text.startswith("## sepcheck: FAIL")
    assert "| **FAIL** | `manager-client-push-smb` | tcp/445 |" in text
    assert re.search(r"and \d+ more", text)


def test_several_outputs_in_one_run(loopback_manager: int, tmp_path: Path, spool_dir: Path) -> None:
    files = [tmp_path / name for name in ("r.json", "r.xml", "r.prom", "r.md")]
    args = [
        "check",
        "--as",
        "client",
        "--manager",
        "127.0.0.1",
        "--no-progress",
        "--format",
        "prometheus",
    ]
    for path in files:
        args += ["--output", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr  # 8014 works: 443 is not needed
    report = json.loads(files[0].read_text())
    assert report["summary"]["probes"] == len(report["results"])
    assert ET.parse(files[1]).getroot().tag == "testsuites"
    assert list(text_string_to_metric_families(files[2].read_text()))
    assert files[3].read_text().startswith("## sepcheck:")
    assert list(text_string_to_metric_families(result.stdout))  # --format for stdout
    assert not list(tmp_path.glob(".*"))  # no temporary report file
    assert not list(spool_dir.glob(".sepcheck-*"))  # no spool


def test_unknown_output_extension() -> None:
    result = runner.invoke(
        app, ["check", "--as", "client", "--manager", "198.18.2.2", "--output", "report.txt"]
    )
    assert result.exit_code == 2
    assert "unknown extension .txt" in result.stderr


# -- The format registry ------------------------------------------------------------------


def test_every_file_format_has_one_extension() -> None:
    assert [k.format for k in FILE_KINDS] == [
        f for f in ReportFormat if f is not ReportFormat.TABLE
    ]
    assert sorted(k.extension for k in FILE_KINDS) == sorted(Extension)
    for kind in FILE_KINDS:
        assert format_of_extension(f".{kind.extension.value}") is kind.format
        assert format_of_extension(f".{kind.extension.value.upper()}") is kind.format
        assert file_format(kind.extension) is kind.format
    assert format_of_extension(".txt") is None
    assert format_of_extension("") is None
    assert extensions_hint() == ".json, .xml (JUnit), .prom (Prometheus), .md (Markdown) or .html"


def test_each_format_is_rendered_by_its_own_renderer(
    run_data: tuple[ReportHead, SpooledRows],
) -> None:
    head, rows = run_data
    text = {k.format: "".join(file_chunks(k.format, head, rows.spools)) for k in FILE_KINDS}
    assert json.loads(text[ReportFormat.JSON])["summary"]["probes"] == head.summary.probes
    assert ET.fromstring(text[ReportFormat.JUNIT]).tag == "testsuites"
    assert text[ReportFormat.JUNIT] == "".join(junit_chunks(head, rows))
    assert text[ReportFormat.PROMETHEUS] == "".join(prometheus_chunks(head, rows))
    assert text[ReportFormat.MARKDOWN] == markdown_report(head)
    assert text[ReportFormat.HTML].startswith("<!DOCTYPE html>")
