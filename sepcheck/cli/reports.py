"""`sepcheck diff`, `sepcheck merge` and `sepcheck schema`: working with reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from sepcheck.cli.app import (
    EXIT_FINDINGS,
    EXIT_OK,
    CatalogueOption,
    TableOrJson,
    app,
    friendly_errors,
    stderr_console,
    stdout_console,
    stdout_or_fail,
    write_chunks,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

T = TypeVar("T")


def _emit(
    output_format: TableOrJson,
    as_json: Callable[[T], str],
    as_table: Callable[[T], RenderableType],
    summary: Callable[[T], str],
    value: T,
    findings: bool,
) -> NoReturn:
    """JSON or a table on stdout, the summary on stderr, exit 1 on findings."""
    if output_format is TableOrJson.JSON:
        write_chunks([as_json(value)])
    else:
        stdout_or_fail(lambda: stdout_console().print(as_table(value)))
    stderr_console().print(summary(value), markup=False)
    raise typer.Exit(EXIT_FINDINGS if findings else EXIT_OK)


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


@app.command("merge")
@friendly_errors
def merge_command(
    reports: Annotated[list[Path], typer.Argument(help="JSON reports from several hosts.")],
    output_format: Annotated[
        TableOrJson, typer.Option("--format", "-f", help="Output format.")
    ] = TableOrJson.TABLE,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Merge reports from several vantage points into one site view; flows the site
    needs that nobody measured are gaps, flows every report left out are listed apart as
    not applicable; reports of `sepcheck listen` add what each responder received (the
    other direction). Exit 1 when a flow fails in any report."""
    from sepcheck.catalogue import load_catalogue
    from sepcheck.listen.report import ListenReport
    from sepcheck.merge import merge_reports
    from sepcheck.render.merge import site_json, site_summary, site_table
    from sepcheck.report.load import load_site_report

    catalogue = load_catalogue(catalogue_path)
    checks, listens = [], []
    for path in reports:
        loaded = load_site_report(path)
        if isinstance(loaded, ListenReport):
            listens.append((path, loaded))
        else:
            checks.append((path, loaded))
    view = merge_reports(catalogue, checks, listens)
    _emit(output_format, site_json, site_table, site_summary, view, view.failing)


@app.command("schema")
@friendly_errors
def schema_command() -> None:
    """Print the JSON Schema of the report (also shipped as schema/report.schema.json)."""
    from sepcheck.report.schema import report_schema_text

    write_chunks([report_schema_text()])
