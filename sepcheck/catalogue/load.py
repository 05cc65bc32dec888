"""Loading the catalogue: read each file, merge their declarations, check the whole.

A catalogue is one .toml file or a folder of them (the built-in one is catalogue/ in the
checkout, sepcheck/_data/catalogue once installed). Everything is validated up front, and
the first problem is one CatalogueError naming the file, the entry and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from sepcheck.catalogue.checks import Loaded, Origins, check_links, check_whole
from sepcheck.catalogue.model import CATALOGUE_SCHEMA, CatalogueFile, Feature, Group, RoleInfo
from sepcheck.catalogue.selection import Catalogue
from sepcheck.data import data_dir
from sepcheck.errors import CatalogueError, Location
from sepcheck.model import Role
from sepcheck.tomlsrc import find_line, load_toml
from sepcheck.validation import located_error


def _catalogue_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.toml"))
        if not files:
            raise CatalogueError(
                "catalogue folder holds no *.toml file",
                location=Location(path),
                hint="point --catalogue at a catalogue .toml file or a folder of them",
            )
        return files
    return [path]


def _load_file(path: Path) -> tuple[CatalogueFile, str]:
    document, text = load_toml(path, CatalogueError, "catalogue")
    if "schema" not in document:
        raise CatalogueError(
            "catalogue file has no 'schema' key",
            location=Location(path, 1),
            hint=f"start the file with 'schema = {CATALOGUE_SCHEMA}'",
        )
    try:
        parsed = CatalogueFile.model_validate(document)
    except ValidationError as exc:
        raise _entry_error(exc, path, text, document) from None
    return parsed, text


def _entry_error(
    exc: ValidationError, path: Path, text: str, document: dict[str, Any]
) -> CatalogueError:
    error = located_error(exc, CatalogueError, path, text)
    loc = exc.errors()[0]["loc"]
    # Name the entry by its id too: "entry[7]" alone makes the user count tables.
    if len(loc) >= 2 and loc[0] == "entry" and isinstance(loc[1], int):
        entries = document.get("entry", [])
        raw = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
        entry_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(entry_id, str):
            error.message = f"entry {entry_id!r}: {error.message}"
    assert isinstance(error, CatalogueError)
    return error


K = TypeVar("K", bound=str)
V = TypeVar("V")


def _absorb(
    table: str, found: dict[K, V], into: dict[K, V], file: Path, text: str, origins: Origins
) -> None:
    """Add one file's declarations to the catalogue's; each name is declared once.
    ``origins`` learns where each was declared (for the errors of later checks)."""
    for name, value in found.items():
        if name in into:
            # str(): a role's name is an enum, whose repr would read <Role.GUP: 'gup'>.
            raise CatalogueError(
                f"{table.rstrip('s')} {str(name)!r} is declared twice",
                location=Location(file, find_line(text, (table, name)), f"{table}.{name}"),
                hint=f"declare each of [{table}] in one catalogue file only",
            )
        into[name] = value
        origins[(table, str(name))] = (file, text)


def default_catalogue_path() -> Path:
    return data_dir("catalogue")


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load the catalogue from a file or folder (default: the one shipped with sepcheck)."""
    root = path if path is not None else default_catalogue_path()
    if not root.exists():
        raise CatalogueError(
            "catalogue path does not exist",
            location=Location(root),
            hint="point --catalogue at a catalogue .toml file or a folder of them",
        )
    loaded: Loaded = []
    features: dict[str, Feature] = {}
    groups: dict[str, Group] = {}
    roles: dict[Role, RoleInfo] = {}
    origins: Origins = {}
    files = _catalogue_files(root)
    for file in files:
        parsed, text = _load_file(file)
        _absorb("features", parsed.features, features, file, text, origins)
        _absorb("groups", parsed.groups, groups, file, text, origins)
        _absorb("roles", parsed.roles, roles, file, text, origins)
        loaded.extend((entry, file, text) for entry in parsed.entry)
    if not loaded:
        raise CatalogueError(
            "catalogue holds no entries",
            location=Location(root),
            hint="add [[entry]] tables (see catalogue/README.md)",
        )
    check_whole(loaded, features)
    check_links(loaded, features, groups, origins)
    return Catalogue(tuple(e for e, _, _ in loaded), tuple(files), features, groups, roles)
