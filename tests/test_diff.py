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
from sepcheck.errors import Location
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


# Bad input (issue 12): reports that used to crash diff, merge and --baseline, or that
# loaded though they hold values no sepcheck writes.

DEEP = '{"schema_version": 1, "results": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.mark.parametrize(
    "command",
    [
        ["diff", "{deep}", "{deep}"],
        ["merge", "{deep}"],
        # The baseline is read before anything else (a missing topology would stop the run
        # too): nothing is probed.
        ["check", "--baseline", "{deep}", "-t", "{missing}", "--as", "client"],
    ],
    ids=["diff", "merge", "baseline"],
)
def test_a_deeply_nested_report_is_one_error(tmp_path: Path, command: list[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    with pytest.raises(ReportError, match="nested too deeply"):
        load_report(deep)
    args = [a.format(deep=deep, missing=tmp_path / "missing.toml") for a in command]
    result = runner.invoke(app, args)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.stderr
    assert lines[0] == f"sepcheck: error: {deep}: not a sepcheck report: arrays or objects " + (
        "nested too deeply to read"
    )
    assert lines[1].startswith("  hint: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("version", "words"),
    [
        ('"1"', 'must be a whole number, not "1"'),
        ("1.0", "must be a whole number, not 1.0"),
        ("true", "must be a whole number, not true"),
        ("null", "must be a whole number, not null"),
        ("[1]", "must be a whole number, not a list"),
        ("0", "0 is no report schema (they are numbered from 1)"),
        ("-3", "-3 is no report schema (they are numbered from 1)"),
        ("99", "report schema 99 is newer than this sepcheck reads (1)"),
    ],
)
def test_schema_version_says_what_is_wrong(
    report: dict[str, Any], tmp_path: Path, version: str, words: str
) -> None:
    path = tmp_path / "r.json"
    text = json.dumps(report).replace('"schema_version": 1', f'"schema_version": {version}', 1)
    path.write_text(text)
    with pytest.raises(ReportError) as info:
        load_report(path)
    assert info.value.message == words
    assert info.value.location == Location(path, None, "schema_version")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("port", "1" + "0" * 400, "less than or equal to 65535"),
        ("port", "1e400", "valid integer"),
        ("port", "-5", "greater than or equal to 1"),
        ("port", "0", "greater than or equal to 1"),
        ("port", "true", "valid integer"),
        ("port", "443.0", "valid integer"),
        ("protocol", '"icmp"', "'tcp' or 'udp'"),
        ("rtt_ms", "NaN", "finite number"),
        ("rtt_ms", "Infinity", "finite number"),
        ("rtt_ms", "-0.5", "greater than or equal to 0"),
    ],
)
def test_impossible_result_values_are_refused_by_key(
    report: dict[str, Any], tmp_path: Path, key: str, value: str, words: str
) -> None:
    report["results"][0][key] = "PLACEHOLDER"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report).replace('"PLACEHOLDER"', value))
    with pytest.raises(ReportError, match=words) as info:
        load_report(path)
    assert info.value.location == Location(path, None, f"results[0].{key}")
    result = runner.invoke(app, ["diff", str(path), str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sepcheck: error: {path}: results[0].{key}: invalid report")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("started_at", "yesterday"),
        ("started_at", "2026-11-29"),
        ("finished_at", "2026-13-01T00:00:00Z"),
        ("finished_at", "2026-11-29T02:41:57"),
    ],
)
def test_timestamps_must_be_dates_and_times(
    report: dict[str, Any], tmp_path: Path, key: str, value: str
) -> None:
    report[key] = value
    with pytest.raises(ReportError, match="must be a date and time like") as info:
        load_report(save(tmp_path, "r.json", report))
    assert info.value.location is not None
    assert info.value.location.key == key


def test_a_number_longer_than_python_converts_in_a_report(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"schema_version": 1, "results": [], "x": 1' + "0" * 5000 + "}")
    with pytest.raises(ReportError, match="number too long"):
        load_report(path)


def test_the_schema_says_what_a_valid_report_is(report: dict[str, Any]) -> None:
    schema = report_schema()
    assert "schema_version" in schema["required"]
    assert schema["properties"]["schema_version"]["minimum"] == 1
    assert schema["properties"]["started_at"]["format"] == "date-time"
    assert schema["properties"]["finished_at"]["format"] == "date-time"
    result = schema["$defs"]["ResultItem"]["properties"]
    assert result["port"]["minimum"] == 1
    assert result["port"]["maximum"] == 65535
    assert result["protocol"]["enum"] == ["tcp", "udp"]
    assert {"type": "number", "minimum": 0} in result["rtt_ms"]["anyOf"]
    flow = schema["$defs"]["FlowResult"]["properties"]
    assert (flow["port"]["maximum"], flow["protocol"]["enum"]) == (65535, ["tcp", "udp"])
    for change in (
        {"port": 70000},
        {"port": 0},
        {"protocol": "icmp"},
        {"rtt_ms": -1.0},
    ):
        broken = copy.deepcopy(report)
        broken["results"][0].update(change)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    del report["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema)


def test_no_changes_is_one_line_not_an_empty_table(report: dict[str, Any], tmp_path: Path) -> None:
    path = save(tmp_path, "a.json", report)
    result = runner.invoke(app, ["diff", str(path), str(path)])
    assert result.exit_code == 0
    assert result.stdout.strip() == "sepcheck diff: no changes"


def test_diff_summary_counts_have_thousands_separators() -> None:
    from sepcheck.diff import Diff, DiffItem
    from sepcheck.render.diff import diff_summary

    diff = Diff()
    item = DiffItem(Change.REMOVED, "f", "h", None, "tcp", 1, None, None)
    diff.items[Change.REMOVED].extend([item] * 1234)
    assert "1,234 removed" in diff_summary(diff)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            '{"schema_version": 1,\n "results": [{"flow": "ab',
            "(Unterminated string starting at line 2, column 23); the file looks truncated",
        ),
        ('{"schema_version": 1 "results": []}', "(Expecting ',' delimiter at line 1, column"),
        ('{"schema_version": 99}', "report schema 99 is newer than this sepcheck reads"),
        ('{"schema_version": 1}', "not a sepcheck report (no results)"),
        ('{"results": []}', "not a sepcheck report (no schema_version)"),
        ("[]", "not a sepcheck report (not a JSON object)"),
    ],
)
def test_load_messages_say_what_is_wrong(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ReportError) as error:
        load_report(path)
    assert words in str(error.value)
