"""`sepcheck plan` (what would be probed) and `sepcheck init` (an example topology)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sepcheck.cli.app import (
    CatalogueOption,
    app,
    friendly_errors,
    resolve_vantage,
    stderr_console,
    stdout_console,
    stdout_or_fail,
    write_chunks,
)
from sepcheck.errors import UsageError
from sepcheck.model import Role


class PlanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("plan")
@friendly_errors
def plan_command(
    topology_path: Annotated[
        Path, typer.Option("--topology", "-t", help="Topology TOML file.", show_default=False)
    ],
    as_roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--as",
            help="Role this host plays (repeat for several). Inferred from local addresses "
            "when left out.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        PlanFormat, typer.Option("--format", "-f", help="Output format.")
    ] = PlanFormat.TABLE,
    expand: Annotated[
        bool,
        typer.Option("--expand", help="Table format: one line per probe instead of per block."),
    ] = False,
    allow_large: Annotated[
        bool,
        typer.Option(
            "--allow-large-ranges",
            help="Accept host blocks larger than 4,096 addresses (up to a /8).",
        ),
    ] = False,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Show every probe this host would send, without sending anything."""
    from sepcheck.catalogue import load_catalogue
    from sepcheck.plan import build_plan
    from sepcheck.render.plan import (
        plan_json_chunks,
        plan_lines,
        plan_notes,
        plan_summary,
        plan_view,
        skipped_view,
    )
    from sepcheck.topology import load_topology

    catalogue = load_catalogue(catalogue_path)
    topology = load_topology(topology_path, catalogue, allow_large=allow_large)
    vantage = resolve_vantage(as_roles, topology)
    plan = build_plan(catalogue, topology, vantage)
    err = stderr_console()
    if vantage.inferred:
        err.print(f"sepcheck: role inferred from this host: {vantage.evidence}", markup=False)
    if output_format is PlanFormat.JSON:
        write_chunks(plan_json_chunks(plan, topology))
        err.print(plan_summary(plan), markup=False)
        return
    if expand:
        write_chunks(plan_lines(plan))
    else:
        console = stdout_console()

        def show() -> None:
            console.print(plan_view(plan, console.width))
            notes = plan_notes(plan)
            if notes is not None:
                console.print()
                console.print(notes)
            skipped = skipped_view(plan, console.width)
            if skipped is not None:
                console.print()
                console.print(skipped)

        stdout_or_fail(show)
    err.print(plan_summary(plan), markup=False)


@app.command("init")
@friendly_errors
def init_command(
    path: Annotated[
        Path, typer.Argument(help="Where to write the example topology ('-' for stdout).")
    ] = Path("site.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example topology to start from."""
    from sepcheck.data import data_dir

    text = (data_dir("examples") / "site.toml").read_text(encoding="utf-8")
    if str(path) == "-":
        write_chunks([text])
        return
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="pass --force to overwrite it, or name another file"
        )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    stderr_console().print(
        f"wrote {path}; edit it, then: sepcheck plan --topology {path} --as client",
        markup=False,
    )
