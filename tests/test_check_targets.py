"""Where a check's reports go and what it compares with, as the job builder checks them:
--output files and their formats, --output-dir, --baseline (and 'previous')."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from sepcheck.catalogue import Catalogue
from sepcheck.cli.check_options import FailOn
from sepcheck.render.formats import Extension, ReportFormat
from sepcheck.report.writer import report_chunks, write_atomic
from tests.test_check_job import QUICK, build, usage_error
from tests.test_report import make_head


def test_output_files_take_their_format_from_the_extension(tmp_path: Path) -> None:
    names = ("r.json", "r.XML", "r.prom", "r.md", "r.html")
    job, _ = build(replace(QUICK, outputs=tuple(tmp_path / n for n in names)))
    assert [(t.path.name, t.format) for t in job.outputs] == [
        ("r.json", ReportFormat.JSON),
        ("r.XML", ReportFormat.JUNIT),
        ("r.prom", ReportFormat.PROMETHEUS),
        ("r.md", ReportFormat.MARKDOWN),
        ("r.html", ReportFormat.HTML),
    ]
    error = usage_error(replace(QUICK, outputs=(tmp_path / "r.txt",)))
    assert error.message == f"--output {tmp_path / 'r.txt'}: unknown extension .txt"
    assert error.hint == "use .json, .xml (JUnit), .prom (Prometheus), .md (Markdown) or .html"
    error = usage_error(replace(QUICK, outputs=(tmp_path,)))
    assert error.message == f"--output {tmp_path}: is a folder, not a file"


def test_output_dir(tmp_path: Path) -> None:
    job, _ = build(replace(QUICK, output_dir=tmp_path, report_tag="pod 7", lock_wait=2.5))
    assert job.archive is not None
    assert (job.archive.archive.folder, job.archive.archive.host) == (tmp_path, "pod_7")
    assert (job.archive.extensions, job.archive.keep, job.archive.lock_wait) == (
        (Extension.JSON,),
        None,
        2.5,
    )
    formats = (Extension.HTML, Extension.JSON, Extension.HTML)
    job, _ = build(replace(QUICK, output_dir=tmp_path, dir_formats=formats, keep=3))
    assert job.archive is not None
    assert job.archive.extensions == (Extension.HTML, Extension.JSON)
    assert job.archive.keep == 3
    for options in (replace(QUICK, keep=3), replace(QUICK, report_tag="x")):
        error = usage_error(options)
        assert error.message == "--keep, --output-dir-format and --report-tag need --output-dir DIR"
    error = usage_error(replace(QUICK, output_dir=tmp_path / "missing"))
    assert error.message == f"--output-dir: folder {tmp_path / 'missing'} does not exist"


def _report(catalogue: Catalogue, tmp_path: Path, path: Path) -> Path:
    head, collector = make_head(catalogue, tmp_path)
    write_atomic(path, report_chunks(head, collector.spools))
    collector.close()
    return path


def test_baseline_file(catalogue: Catalogue, tmp_path: Path) -> None:
    path = _report(catalogue, tmp_path, tmp_path / "before.json")
    job, _ = build(replace(QUICK, baseline=path, fail_on=FailOn.REGRESSION))
    assert job.baseline is not None
    assert job.baseline.path == path
    results = json.loads(path.read_text())["results"]
    assert len(job.baseline.index.sides) == len(results)
    error = usage_error(replace(QUICK, fail_on=FailOn.REGRESSION))
    assert error.message == "--fail-on regression needs --baseline REPORT"


def test_baseline_previous(catalogue: Catalogue, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    previous = replace(
        QUICK, output_dir=reports, baseline=Path("previous"), fail_on=FailOn.REGRESSION
    )
    job, said = build(previous)
    assert job.baseline is None  # the first run: nothing can have regressed
    assert said == [
        f"sepcheck: no earlier report of this host in {reports}: nothing to compare with yet"
    ]
    tag = job.archive.archive.host if job.archive else ""
    for stamp in ("20260101T000000Z", "20260102T000000Z"):
        newest = _report(catalogue, tmp_path, reports / f"sepcheck-{stamp}-{tag}.json")
    job, said = build(previous)
    assert said == []
    assert job.baseline is not None
    assert job.baseline.path == newest
    error = usage_error(replace(QUICK, baseline=Path("previous")))
    assert (error.message, error.hint) == (
        "--baseline previous needs --output-dir DIR",
        "or give the path of an earlier report",
    )
