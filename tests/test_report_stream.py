"""The baseline index read as a stream: a report sepcheck wrote is never loaded whole,
any other valid report still loads (whole), and a bad file gets load_report's message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.diff import Baseline
from sepcheck.report import load, stream
from sepcheck.report.load import ReportError, load_report
from sepcheck.report.model import Report
from sepcheck.report.writer import report_chunks, write_atomic
from tests.test_report import make_head


@pytest.fixture
def written(catalogue: Catalogue, tmp_path: Path) -> Path:
    head, collector = make_head(catalogue, tmp_path)
    path = tmp_path / "written.json"
    write_atomic(path, report_chunks(head, collector.spools))
    collector.close()
    return path


def _no_whole_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> Report:
        raise AssertionError(f"{path} was loaded whole")

    monkeypatch.setattr(stream, "load_report", refuse)
    monkeypatch.setattr(load, "load_report", refuse)


def test_a_written_report_is_streamed_to_the_same_index(
    written: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = Baseline.of(load_report(written))
    assert len(whole.sides) > 3
    _no_whole_load(monkeypatch)
    assert Baseline.read(written) == whole


def test_a_written_report_without_results_is_streamed(
    written: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads(written.read_text())
    lines = written.read_text().splitlines(keepends=True)
    start = lines.index('  "results": [\n')
    written.write_text("".join([*lines[:start], '  "results": []\n', "}\n"]))
    assert json.loads(written.read_text()) == {**data, "results": []}
    _no_whole_load(monkeypatch)
    index = Baseline.read(written)
    assert index.sides == {}
    assert index.complete is data["complete"]


def test_the_later_of_a_probe_listed_twice_counts(written: Path) -> None:
    lines = written.read_text().splitlines(keepends=True)
    start = lines.index('  "results": [\n') + 1
    first = json.loads(lines[start].strip().removesuffix(","))
    changed = {**first, "reason": "listed again", "state": "filtered", "verdict": "fail"}
    lines.insert(start + 1, f"    {json.dumps(changed)},\n")
    written.write_text("".join(lines))
    index = Baseline.read(written)
    assert index == Baseline.of(load_report(written))
    assert "listed again" in {side.reason for side in index.sides.values()}


def test_a_reindented_report_still_loads(written: Path) -> None:
    data: dict[str, Any] = json.loads(written.read_text())
    expected = Baseline.of(load_report(written))
    for text in (json.dumps(data, indent=4), json.dumps(data), json.dumps(data, indent=2)):
        written.write_text(text)
        assert Baseline.read(written) == expected


def _damaged(text: str) -> list[str]:
    """Writer-shaped files that are not valid (or not valid reports)."""
    lines = text.splitlines(keepends=True)
    start = lines.index('  "results": [\n') + 1
    end = lines.index("  ]\n")
    last = lines[end - 1]
    item = json.loads(lines[start].strip().removesuffix(","))
    return [
        "".join([*lines[: end - 1], last.rstrip("\n") + ",\n", *lines[end:]]),  # [a, b,]
        "".join([*lines[:start], lines[start].replace("},", "}"), *lines[start + 1 :]]),
        "".join(lines[:end]),  # truncated after the last result
        "".join(lines[: end - 1]),  # truncated after a result and its comma
        text.replace('  "schema_version": 1,\n', ""),
        text[: len("".join(lines[: start + 1])) - 20],  # truncated inside a result
        text + "{}\n",  # more after the end
        "".join([*lines[:start], f"    {json.dumps({**item, 'port': 0})},\n", *lines[start:]]),
        "".join([*lines[:start], "    [1, 2],\n", *lines[start:]]),
        text.replace('"complete": ', '"complete": "perhaps", "x": '),
        text.replace('"schema_version": 1', '"schema_version": 1.0'),
        text.replace('"schema_version": 1', '"schema_version": 99'),
    ]


def test_a_damaged_report_gets_the_whole_load_message(written: Path) -> None:
    for number, text in enumerate(_damaged(written.read_text())):
        path = written.with_name(f"damaged{number}.json")
        path.write_text(text)
        with pytest.raises(ReportError) as whole:
            load_report(path)
        with pytest.raises(ReportError) as streamed:
            Baseline.read(path)
        assert str(streamed.value) == str(whole.value), number
        assert streamed.value.location == whole.value.location, number


def test_a_missing_report_is_the_load_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="report file not found"):
        Baseline.read(tmp_path / "missing.json")


def test_diff_and_the_check_baseline_stream(written: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sepcheck.cli import app
    from sepcheck.cli.check_options import CheckOptions
    from sepcheck.cli.check_sources import read_baseline

    _no_whole_load(monkeypatch)
    result = CliRunner().invoke(app, ["diff", str(written), str(written)])
    assert result.exit_code == 0, result.stderr
    source = read_baseline(CheckOptions(baseline=written), None, print)
    assert source is not None
    assert source.index == Baseline.read(written)
