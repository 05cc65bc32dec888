"""The command line: the only module that reads argv, writes to the terminal and exits.

Every command turns SepcheckError (bad input) into a one-line message with a hint and exit
code 2. Exit codes: 0 success, 1 findings (failing flows, later), 2 usage or input error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from sepcheck import __version__
from sepcheck.catalogue import Catalogue, load_catalogue
from sepcheck.data import data_dir
from sepcheck.errors import SepcheckError, UsageError
from sepcheck.localhost import local_addresses, local_names
from sepcheck.model import Protocol, Role
from sepcheck.plan import Vantage, build_plan, infer_vantage
from sepcheck.render.catalogue import catalogue_json, catalogue_markdown, catalogue_table
from sepcheck.render.plan import plan_json_chunks, plan_lines, plan_table, skipped_table
from sepcheck.topology import Topology, load_topology
from sepcheck.versions import SepVersion, parse_version

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="sepcheck",
    help="Reachability probe and audit tool for Symantec Endpoint Protection deployments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

P = ParamSpec("P")
R = TypeVar("R")


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    # Piped tables keep their columns readable instead of wrapping at rich's 80-column
    # default; COLUMNS still wins when the user sets it.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if wide else None)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SepcheckError into 'sepcheck: error: WHERE: WHAT' plus a hint, exit 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SepcheckError as exc:
            err = _stderr()
            err.print(f"[bold red]sepcheck: error:[/] {exc}", markup=True, highlight=False)
            if exc.hint:
                err.print(f"  hint: {exc.hint}", markup=False)
            if exc.detail:
                err.print(f"  {exc.detail}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sepcheck {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Reachability probe and audit tool for Symantec Endpoint Protection deployments."""


class CatalogueFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class PlanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


CatalogueOption = Annotated[
    Path | None,
    typer.Option(
        "--catalogue",
        help="Catalogue file or folder of *.toml files to use instead of the built-in one.",
        show_default=False,
    ),
]


def _write_chunks(chunks: Iterable[str]) -> None:
    out = sys.stdout
    for chunk in chunks:
        out.write(chunk)
    out.flush()


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
    catalogue = load_catalogue(catalogue_path)
    version = _parse_cli_version(sep_version)
    entries = list(catalogue.select(version=version, role=role, protocol=protocol))
    if output_format is CatalogueFormat.JSON:
        _write_chunks([catalogue_json(entries)])
    elif output_format is CatalogueFormat.MARKDOWN:
        _write_chunks([catalogue_markdown(entries)])
    else:
        title = f"SEP flows ({len(entries)} of {len(catalogue)} entries)"
        _stdout().print(catalogue_table(entries, title=title))


def _parse_cli_version(text: str | None) -> SepVersion | None:
    if text is None:
        return None
    try:
        return parse_version(text)
    except SepcheckError as exc:
        raise UsageError(f"--sep-version: {exc.message}", hint=exc.hint) from None


def _vantage(roles: list[Role] | None, topology: Topology) -> Vantage:
    if roles:
        return Vantage(tuple(dict.fromkeys(roles)))
    inferred = infer_vantage(topology, local_addresses(), local_names())
    if inferred is None:
        raise UsageError(
            "cannot tell which role this host plays: none of its addresses or names is in "
            "the topology",
            hint="pass --as ROLE (e.g. --as client)",
        )
    return inferred


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
    catalogue: Catalogue = load_catalogue(catalogue_path)
    topology = load_topology(topology_path, catalogue, allow_large=allow_large)
    vantage = _vantage(as_roles, topology)
    plan = build_plan(catalogue, topology, vantage)
    err = _stderr()
    if vantage.inferred:
        err.print(f"sepcheck: role inferred from this host: {vantage.evidence}", markup=False)
    if output_format is PlanFormat.JSON:
        _write_chunks(plan_json_chunks(plan, topology))
        return
    if expand:
        _write_chunks(plan_lines(plan))
    else:
        console = _stdout()
        console.print(plan_table(plan))
        skipped = skipped_table(plan)
        if skipped is not None:
            console.print(skipped)
    gaps = len(plan.gaps)
    err.print(
        f"{plan.total:,} probes in {len(plan.flows)} flows"
        + (f"; {gaps} required flow(s) have no destination hosts (gaps)" if gaps else ""),
        markup=False,
    )


@app.command("init")
@friendly_errors
def init_command(
    path: Annotated[
        Path, typer.Argument(help="Where to write the example topology ('-' for stdout).")
    ] = Path("site.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example topology to start from."""
    text = (data_dir("examples") / "site.toml").read_text(encoding="utf-8")
    if str(path) == "-":
        _write_chunks([text])
        return
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="pass --force to overwrite it, or name another file"
        )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    _stderr().print(
        f"wrote {path}; edit it, then: sepcheck plan --topology {path} --as client",
        markup=False,
    )


def main() -> None:
    app()
