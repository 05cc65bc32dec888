"""Reading reports back, comparing them, and the report's JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue
from sepcheck.cli import app
from sepcheck.diff import Change, diff_reports
from sepcheck.report.load import ReportError, load_report
from sepcheck.report.schema import report_schema, report_schema_text
from sepcheck.report.writer import report_chunks, write_atomic
from tests.test_report import make_head

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def report(catalogue: Catalogue, tmp_path: Path) -> dict[str, Any]:
    head, collector = make_head(catalogue, tmp_path)
    path = tmp_path / "base.json"
    write_atomic(path, report_chunks(head, collector.spools))
    collector.close()
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema" / "report.schema.json").read_text()
    assert committed == report_schema_text(), (
        "schema/report.schema.json is stale: regenerate it with sepcheck schema"
    )


def test_real_reports_validate_against_the_schema(report: dict[str, Any]) -> None:
    jsonschema.validate(report, report_schema())
    broken = copy.deepcopy(report)
    broken["results"][0]["state"] = "sort-of-open"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report_schema())


def test_identical_reports_have_no_difference(report: dict[str, Any], tmp_path: Path) -> None:
    path = save(tmp_path, "a.json", report)
    result = diff_reports(load_report(path), load_report(path))
    assert all(not items for items in result.items.values())


def test_a_report_from_before_the_site_model_still_loads(
    report: dict[str, Any], tmp_path: Path
) -> None:
    """Reports written before groups, severities and plan notes existed read as before."""
    old = copy.deepcopy(report)
    for item in old["results"]:
        del item["severity"], item["group"]
    for flow in old["summary"]["flow_results"]:
        del flow["severity"], flow["group"]
    del old["summary"]["groups"], old["summary"]["plan_notes"]
    loaded = load_report(save(tmp_path, "old.json", old))
    assert loaded.results[0].severity == "fail"
    assert loaded.results[0].group is None
    assert loaded.summary.groups == []
    result = diff_reports(loaded, load_report(save(tmp_path, "new.json", report)))
    assert all(not items for items in result.items.values())


def test_one_flipped_rule_is_exactly_one_regression(report: dict[str, Any], tmp_path: Path) -> None:
    after = copy.deepcopy(report)
    passing = [r for r in after["results"] if r["verdict"] == "pass"]
    failing = [r for r in after["results"] if r["verdict"] == "fail"]
    target, fixed, moved = passing[0], failing[0], failing[1]
    target.update(
        state="filtered",
        reason="admin-prohibited",
        detail="admin-prohibited by x",
        reply_from="198.18.1.1",
        verdict="fail",
    )
    fixed.update(state="open", reason="syn-ack", detail="syn-ack", verdict="pass")
    moved.update(reply_from="198.18.9.9")
    added = dict(target, host="198.18.99.1", address="198.18.99.1")
    after["results"].append(added)
    removed = after["results"].pop(-2)
    result = diff_reports(
        load_report(save(tmp_path, "a.json", report)), load_report(save(tmp_path, "b.json", after))
    )
    assert [(i.flow, i.address) for i in result.items[Change.REGRESSION]] == [
        (target["flow"], target["address"])
    ]
    assert [(i.flow, i.address) for i in result.items[Change.FIX]] == [
        (fixed["flow"], fixed["address"])
    ]
    assert [(i.flow, i.address) for i in result.items[Change.CHANGED]] == [
        (moved["flow"], moved["address"])
    ]
    assert [i.address for i in result.items[Change.ADDED]] == ["198.18.99.1"]
    assert [(i.flow, i.address) for i in result.items[Change.REMOVED]] == [
        (removed["flow"], removed["address"])
    ]
    regression = result.regressions[0].as_dict()
    assert regression["before"]["verdict"] == "pass"  # type: ignore[index]
    assert regression["after"]["state"] == "filtered"  # type: ignore[index]


def test_an_interrupted_report_lacks_probes_without_removing_them(
    report: dict[str, Any], tmp_path: Path
) -> None:
    after = copy.deepcopy(report)
    after["complete"] = False
    del after["results"][5:]
    result = diff_reports(
        load_report(save(tmp_path, "a.json", report)), load_report(save(tmp_path, "b.json", after))
    )
    assert result.items[Change.REMOVED] == []
    assert len(result.items[Change.UNMEASURED]) == len(report["results"]) - 5


def test_cli_diff_exit_codes_and_json(report: dict[str, Any], tmp_path: Path) -> None:
    before = save(tmp_path, "a.json", report)
    same = runner.invoke(app, ["diff", str(before), str(before)])
    assert same.exit_code == 0
    assert "NO REGRESSION" in same.stderr
    after = copy.deepcopy(report)
    target = next(r for r in after["results"] if r["verdict"] == "pass")
    target.update(state="filtered", verdict="fail")
    worse = runner.invoke(
        app, ["diff", str(before), str(save(tmp_path, "b.json", after)), "--format", "json"]
    )
    assert worse.exit_code == 1
    doc = json.loads(worse.stdout)
    assert set(doc) >= {"regressions", "fixes", "changed", "added", "removed"}
    assert len(doc["regressions"]) == 1
    item = doc["regressions"][0]
    assert set(item) >= {"flow", "host", "address", "protocol", "port", "before", "after"}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"schema_version": 1, "results": [', "truncated"),
        ('{"hello": "world"}', "not a sepcheck report"),
        ('{"schema_version": 99, "results": []}', "newer than this sepcheck"),
        ('{"schema_version": 1, "results": []}', "invalid report"),
    ],
)
def test_unusable_reports_are_clear_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=words):
        load_report(path)
    result = runner.invoke(app, ["diff", str(path), str(path)])
    assert result.exit_code == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_command_prints_the_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"].startswith("sepcheck report")
