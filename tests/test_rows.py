"""Results as typed rows from the spools, and the baseline diff that walks them once."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue
from sepcheck.cli import app
from sepcheck.diff import Baseline, Change, diff_against, diff_reports
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.plan import Vantage, build_plan
from sepcheck.report import model
from sepcheck.report.load import load_report
from sepcheck.report.model import Report, ResultItem, result_record
from sepcheck.report.rows import ResultRow, SpooledRows
from sepcheck.report.writer import report_chunks, write_atomic
from sepcheck.results import ProbeResult, State, Verdict
from sepcheck.topology import topology_from_hosts
from tests.test_report import make_head


def test_a_row_is_the_record_typed(catalogue: Catalogue) -> None:
    topology = topology_from_hosts({Role.MANAGER: ["198.18.2.2"]}, catalogue)
    probe = next(build_plan(catalogue, topology, Vantage((Role.CLIENT,))).probes())
    result = ProbeResult(probe, "198.18.2.2", State.OPEN, "syn-ack", "198.18.2.2", 0.25, 1, "x")
    record = result_record(result, Verdict.WARN, "a note")
    assert [f.name for f in dataclasses.fields(ResultRow)] == list(record)
    row = ResultRow.from_line(json.dumps(record))
    item = ResultItem.of(result, Verdict.WARN, "a note")
    assert dataclasses.asdict(row) == item.model_dump()
    assert (row.state, row.verdict, row.protocol) == (State.OPEN, Verdict.WARN, Protocol.TCP)
    assert (row.expect, row.severity) == (Expect.REACHABLE, Severity.FAIL)
    for name in ("state", "verdict", "protocol", "expect", "severity"):
        assert type(getattr(row, name)) is not str, name


def test_spooled_rows_read_the_spools_on_each_pass(catalogue: Catalogue, tmp_path: Path) -> None:
    head, collector = make_head(catalogue, tmp_path)
    rows = SpooledRows.of(collector.spools)
    first = list(rows)
    assert len(first) == head.summary.probes
    assert list(rows) == first
    with collector.spools[0].open("a") as spool:
        spool.write('{"flow": "cut sh')  # a second Ctrl-C cut the last line short
    assert list(rows) == first
    collector.close()


def _report(catalogue: Catalogue, tmp_path: Path) -> dict[str, object]:
    head, collector = make_head(catalogue, tmp_path)
    path = tmp_path / "r.json"
    write_atomic(path, report_chunks(head, collector.spools))
    collector.close()
    data: dict[str, object] = json.loads(path.read_text())
    return data


def _changed(data: dict[str, object]) -> dict[str, object]:
    """A later report: one result worse, one better, one moved, one added, one gone, and
    one probe listed twice (its later copy counts)."""
    after = copy.deepcopy(data)
    results = after["results"]
    assert isinstance(results, list)
    passing = [r for r in results if r["verdict"] == "pass"]
    failing = [r for r in results if r["verdict"] == "fail"]
    passing[0].update(state="filtered", verdict="fail", reason="no-response")
    failing[0].update(state="open", verdict="pass", reason="syn-ack")
    failing[1].update(reply_from="198.18.9.9")
    results.append(dict(passing[1], host="198.18.99.1", address="198.18.99.1"))
    results.append(dict(passing[2], state="filtered", verdict="fail"))
    del results[-4]
    return after


def _once(rows: list[ResultItem]) -> Iterator[ResultItem]:
    yield from rows  # a generator: a second walk would find nothing


def test_the_streaming_diff_says_what_the_whole_reports_say(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    before_data = _report(catalogue, tmp_path)
    before = Report.model_validate(before_data)
    after = Report.model_validate(_changed(before_data))
    whole = diff_reports(before, after)
    streamed = diff_against(Baseline.of(before), _once(after.results), after.complete)
    assert streamed == whole
    counts = {kind: len(whole.items[kind]) for kind in Change}
    assert counts == {
        Change.REGRESSION: 2,
        Change.FIX: 1,
        Change.CHANGED: 1,
        Change.ADDED: 1,
        Change.REMOVED: 1,
        Change.UNMEASURED: 0,
    }
    cut = after.model_copy(update={"complete": False, "results": after.results[:5]})
    streamed = diff_against(Baseline.of(before), _once(cut.results), cut.complete)
    assert streamed == diff_reports(before, cut)
    assert streamed.items[Change.UNMEASURED]
    assert not streamed.items[Change.REMOVED]


def test_check_baseline_streams_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`check --baseline` compares straight from the spools: the run is never parsed back
    as a whole report."""
    runner = CliRunner()
    base = tmp_path / "base.json"
    # An address of its own: a listener of another test on 127.0.0.1:8014 cannot answer.
    args = ["check", "--as", "client", "--manager", "127.0.83.17", "--no-progress"]
    runner.invoke(app, [*args, "-o", str(base)])
    assert load_report(base).complete

    def refused(*_: object, **__: object) -> Report:
        raise AssertionError("the run was parsed back whole")

    monkeypatch.setattr(model.Report, "model_validate_json", refused)
    done = runner.invoke(app, [*args, "--baseline", str(base), "--fail-on", "regression"])
    assert done.exit_code == 0, done.stderr
    assert f"since {base}: NO REGRESSION: 0 regressions" in done.stderr
