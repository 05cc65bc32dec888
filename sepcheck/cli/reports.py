"""`sepcheck diff`, `sepcheck merge` and `sepcheck schema`: working with reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from sepcheck.cli.app import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    CatalogueOption,
    TableOrJson,
    app,
    friendly_errors,
    stderr_console,
    stdout_console,
    stdout_or_fail,
    write_chunks,
)
from sepcheck.errors import Location, UsageError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sepcheck.merge import MissingHost, SiteView

T = TypeVar("T")


def _emit(
    output_format: TableOrJson,
    as_json: Callable[[T], str],
    as_table: Callable[[T], RenderableType],
    summary: Callable[[T], str],
    value: T,
    findings: bool,
    failures: Sequence[str] = (),
) -> NoReturn:
    """JSON or a table on stdout, the summary on stderr, exit 1 on findings; exit 2 when
    a file could not be written (``failures`` say which)."""
    if output_format is TableOrJson.JSON:
        write_chunks([as_json(value)])
    else:
        stdout_or_fail(lambda: stdout_console().print(as_table(value)))
    err = stderr_console()
    err.print(summary(value), markup=False)
    for failure in failures:
        err.print(f"sepcheck: error: {failure}", markup=False)
    raise typer.Exit(EXIT_USAGE if failures else EXIT_FINDINGS if findings else EXIT_OK)


@app.command("diff")
@friendly_errors
def diff_command(
    before: Annotated[Path, typer.Argument(help="The earlier JSON report (the baseline).")],
    after: Annotated[Path, typer.Argument(help="The later JSON report.")],
    output_format: Annotated[
        TableOrJson, typer.Option("--format", "-f", help="Output format.")
    ] = TableOrJson.TABLE,
) -> None:
    """Show what changed between two reports; exit 1 when something regressed."""
    from sepcheck.diff import Baseline, diff_baselines
    from sepcheck.render.diff import diff_json, diff_summary, diff_table

    # Each report is indexed as it is read, never held whole.
    result = diff_baselines(Baseline.read(before), Baseline.read(after))
    _emit(output_format, diff_json, diff_table, diff_summary, result, bool(result.regressions))


class SiteFailOn(StrEnum):
    FAILURE = "failure"
    WARNING = "warning"


@app.command("merge")
@friendly_errors
def merge_command(
    reports: Annotated[
        list[Path] | None,
        typer.Argument(
            help="JSON reports from several hosts (none: only --missing, when every host's "
            "check failed).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        TableOrJson, typer.Option("--format", "-f", help="Output format.")
    ] = TableOrJson.TABLE,
    missing_path: Annotated[
        Path | None,
        typer.Option(
            "--missing",
            metavar="FILE",
            help='Hosts whose check did not run, as JSON: [{"host": ..., "roles": [...], '
            '"reason": ...}]. Each is a gap for the flows of its roles nobody measured, and '
            "the view is never a pass.",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        SiteFailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 on any failing flow (and when a host is missing); 'warning': also "
            "on a warning.",
        ),
    ] = SiteFailOn.FAILURE,
    outputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the site view, atomically; repeat for several. The extension picks "
            "the format: .json, .html (self-contained page).",
            show_default=False,
        ),
    ] = None,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Merge reports from several vantage points into one site view; flows the site
    needs that nobody measured are gaps, flows every report left out are listed apart as
    not applicable; reports of `sepcheck listen` add what each responder received (the
    other direction). Exit 1 when a flow fails in any report, or when a host's check did
    not run (--missing)."""
    from sepcheck.catalogue import load_catalogue
    from sepcheck.listen.report import ListenReport
    from sepcheck.merge import merge_reports
    from sepcheck.render.merge import site_json, site_summary, site_table
    from sepcheck.report.load import load_site_report

    targets = [_site_target(path) for path in outputs or ()]
    missing = _read_missing(missing_path) if missing_path is not None else []
    if not reports and not missing:
        raise UsageError(
            "nothing to merge: give the JSON reports of sepcheck check (and of sepcheck listen)",
            hint="e.g. sepcheck merge reports/*.json; --missing FILE alone when no host "
            "could run its check",
        )
    catalogue = load_catalogue(catalogue_path)
    checks, listens = [], []
    for path in reports or ():
        loaded = load_site_report(path)
        if isinstance(loaded, ListenReport):
            listens.append((path, loaded))
        else:
            checks.append((path, loaded))
    view = merge_reports(catalogue, checks, listens, missing)
    warning = fail_on is SiteFailOn.WARNING
    failures = _write_site(view, targets, warning)
    findings = view.failing or bool(view.missing) or (warning and view.warning)

    def summary(value: SiteView) -> str:
        return site_summary(value, warning)

    _emit(output_format, site_json, site_table, summary, view, findings, failures)


def _site_target(path: Path) -> Path:
    """An --output file of the site view: .json or .html, where it can be written."""
    from sepcheck.cli.validate import check_output

    check_output(path)
    if path.suffix.lower() not in SITE_EXTENSIONS:
        raise UsageError(
            f"--output {path}: unknown extension {path.suffix or '(none)'}",
            hint="the site view is written as .json or .html",
        )
    return path


SITE_EXTENSIONS = (".json", ".html")


def _write_site(view: SiteView, targets: Sequence[Path], fail_on_warning: bool) -> list[str]:
    """Each --output file, atomically; what could not be written, in words (one file
    that cannot be written must not cost the others)."""
    from sepcheck.render.merge import site_json
    from sepcheck.render.site_html import site_html
    from sepcheck.report.writer import write_atomic

    failures = []
    for path in targets:
        text = (
            site_json(view) if path.suffix.lower() == ".json" else site_html(view, fail_on_warning)
        )
        try:
            write_atomic(path, iter([text]))
        except OSError as exc:
            failures.append(f"site view {path} not written: {exc.strerror or exc}")
    return failures


def _read_missing(path: Path) -> list[MissingHost]:
    """The --missing file: the hosts whose check did not run."""
    import json

    from sepcheck.merge import MissingListError, read_missing
    from sepcheck.tomlsrc import file_kind

    def bad(message: str) -> MissingListError:
        return MissingListError(
            message,
            location=Location(path),
            hint="give the JSON file the fleet playbook writes for hosts whose check did not run",
        )

    try:
        # stat() first: opening a FIFO blocks, and /dev/zero never ends.
        kind = file_kind(path.stat().st_mode)
        if kind is not None:
            raise bad(f"--missing is {kind}, not a file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise bad("--missing file not found") from None
    except UnicodeDecodeError:
        raise bad("--missing file is not UTF-8 text") from None
    except OSError as exc:
        raise bad(f"cannot read the --missing file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise bad("not valid JSON") from None
    return read_missing(data, path)


@app.command("schema")
@friendly_errors
def schema_command() -> None:
    """Print the JSON Schema of the report (also shipped as schema/report.schema.json)."""
    from sepcheck.report.schema import report_schema_text

    write_chunks([report_schema_text()])
