"""`sepcheck plan` (what would be probed) and `sepcheck init` (an example topology)."""

from __future__ import annotations

import sys
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
        Path, typer.Argument(help="Where to write the topology ('-' for stdout).")
    ] = Path("site.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--from-ansible-inventory",
            metavar="FILE",
            help="Write the topology of an Ansible inventory instead of the example: the "
            "JSON of `ansible-inventory -i INVENTORY --list` ('-' for stdin).",
            show_default=False,
        ),
    ] = None,
    roles_of: Annotated[
        str | None,
        typer.Option(
            "--roles-of",
            metavar="HOST",
            help="With --from-ansible-inventory: print the roles of this inventory host, "
            "space-separated, and write nothing.",
            show_default=False,
        ),
    ] = None,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Write a commented example topology to start from, or the topology of an Ansible
    inventory (--from-ansible-inventory)."""
    if roles_of is not None and inventory is None:
        raise UsageError(
            "--roles-of needs --from-ansible-inventory",
            hint="give the inventory: --from-ansible-inventory FILE --roles-of HOST",
        )
    if inventory is not None:
        _init_from_inventory(path, force, inventory, roles_of, catalogue_path)
        return
    from sepcheck.data import data_dir

    text = (data_dir("examples") / "site.toml").read_text(encoding="utf-8")
    if _write_topology(path, text, force):
        stderr_console().print(
            f"wrote {path}; edit it, then: sepcheck plan --topology {path} --as client",
            markup=False,
        )


def _write_topology(path: Path, text: str, force: bool) -> bool:
    """Write ``text`` to ``path`` (or stdout for '-'); True when a file was written."""
    if str(path) == "-":
        write_chunks([text])
        return False
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="pass --force to overwrite it, or name another file"
        )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return True


SKIPPED_NAMED = 10
"""Hosts without a role named on stderr; the rest are counted."""


def _init_from_inventory(
    path: Path, force: bool, source: Path, roles_of: str | None, catalogue_path: Path | None
) -> None:
    """``init --from-ansible-inventory``: the topology of an inventory, checked by loading
    it back as `check` would; or, with --roles-of, one host's roles."""
    import tomllib

    from sepcheck.catalogue import load_catalogue
    from sepcheck.errors import TopologyError
    from sepcheck.inventory import (
        ROLES_VAR,
        parse_inventory,
        topology_error,
        topology_groups,
        topology_toml,
    )
    from sepcheck.render.words import plural
    from sepcheck.topology import build_topology

    where = None if str(source) == "-" else source
    inventory = parse_inventory(_read_inventory(source), where)
    if roles_of is not None:
        roles = inventory.roles_of(roles_of)
        if roles is None:
            raise UsageError(
                f"--roles-of: host {roles_of!r} is not in the inventory",
                hint="give the host's inventory name (inventory_hostname)",
            )
        write_chunks([" ".join(role.value for role in roles) + "\n"])
        return
    groups = topology_groups(inventory, where)
    text = topology_toml(inventory, groups, "standard input" if where is None else str(source))
    # Loaded back with sepcheck's own loader: a file written here always loads.
    try:
        build_topology(tomllib.loads(text), load_catalogue(catalogue_path), text=text)
    except TopologyError as exc:
        raise topology_error(inventory, exc, where) from None
    err = stderr_console()
    for note in inventory.notes:
        err.print(f"sepcheck: {note}", markup=False)
    skipped = inventory.skipped
    if skipped:
        named = ", ".join(skipped[:SKIPPED_NAMED])
        more = len(skipped) - SKIPPED_NAMED
        err.print(
            f"sepcheck: skipped {plural(len(skipped), 'host')} without {ROLES_VAR}: {named}"
            + (f" and {more:,} more" if more > 0 else ""),
            markup=False,
        )
    if _write_topology(path, text, force):
        hosts = len(inventory.hosts) - len(skipped)
        played = ", ".join(dict.fromkeys(g.role.value for g in groups))
        err.print(
            f"wrote {path}: {plural(hosts, 'host')} in {plural(len(groups), 'host group')} "
            f"({played}); review it, then: sepcheck plan --topology {path} --as ROLE",
            markup=False,
        )


def _read_inventory(source: Path) -> str:
    """The inventory listing's text, from a file or ('-') from stdin."""
    from sepcheck.errors import Location
    from sepcheck.inventory import InventoryError

    if str(source) == "-":
        return sys.stdin.read()
    try:
        return source.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = "inventory file not found"
    except UnicodeDecodeError:
        problem = "not an inventory listing: not UTF-8 text"
    except OSError as exc:
        problem = f"cannot read the inventory: {exc.strerror or exc}"
    raise InventoryError(
        problem,
        location=Location(source),
        hint="write it with: ansible-inventory -i INVENTORY --list > FILE (or pipe it to '-')",
    )
