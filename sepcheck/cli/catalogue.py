"""`sepcheck catalogue`: list the SEP flows of the port catalogue."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from sepcheck.cli.app import (
    CatalogueOption,
    app,
    friendly_errors,
    parse_cli_version,
    stdout_console,
    stdout_or_fail,
    write_chunks,
)
from sepcheck.model import Protocol, Role


class CatalogueFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


@app.command("catalogue")
@friendly_errors
def catalogue_command(
    output_format: Annotated[
        CatalogueFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CatalogueFormat.TABLE,
    sep_version: Annotated[
        str | None,
        typer.Option("--sep-version", help="Only entries that apply to this SEP version."),
    ] = None,
    role: Annotated[
        Role | None, typer.Option("--role", help="Only flows with this role at either end.")
    ] = None,
    protocol: Annotated[
        Protocol | None, typer.Option("--protocol", help="Only this protocol.")
    ] = None,
    catalogue_path: CatalogueOption = None,
) -> None:
    """List the SEP flows of the port catalogue."""
    from sepcheck.catalogue import load_catalogue
    from sepcheck.render.catalogue import catalogue_json, catalogue_markdown, catalogue_view

    catalogue = load_catalogue(catalogue_path)
    version = parse_cli_version(sep_version)
    entries = list(catalogue.select(version=version, role=role, protocol=protocol))
    if output_format is CatalogueFormat.JSON:
        write_chunks([catalogue_json(entries)])
    elif output_format is CatalogueFormat.MARKDOWN:
        write_chunks([catalogue_markdown(entries)])
    else:
        title = f"SEP flows ({len(entries)} of {len(catalogue)} entries)"
        console = stdout_console()
        stdout_or_fail(
            lambda: console.print(catalogue_view(entries, title=title, width=console.width))
        )
