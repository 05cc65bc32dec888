"""The SEP port catalogue: load, validate and filter the flow entries in catalogue/*.toml.

Each entry is one protocol and port between a source role and a destination role, with
the expectation that it must work (``reachable``) or must not exist (``unreachable``).
The file format is documented in catalogue/README.md. Loading validates everything up
front and names the file, the entry and the field of the first problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sepcheck.data import data_dir
from sepcheck.errors import CatalogueError, Location, VersionError
from sepcheck.model import Expect, Protocol, Role, Scope, Severity
from sepcheck.tomlsrc import find_line, load_toml
from sepcheck.validation import located_error
from sepcheck.versions import Applicability, SepVersion, parse_applicability

CATALOGUE_SCHEMA = 1
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)+$")


class Entry(BaseModel):
    """One flow of the catalogue. Field names are the public JSON contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Unique, stable, readable id: source-destination-purpose.")
    row: int = Field(ge=0, description="Row of Broadcom's port table; 0 for derived entries.")
    protocol: Protocol
    port: int = Field(ge=1, le=65535)
    port_from: str | None = Field(
        default=None,
        description="Id of the entry whose port (and topology override) this entry follows.",
    )
    source: Role = Field(description="Role that opens the connection or sends the datagram.")
    destination: Role = Field(description="Role that listens.")
    purpose: str = Field(min_length=1)
    listener: str = Field(default="", description="Listening process, with version notes.")
    initiator: str = Field(default="", description="Who starts the flow, in the table's words.")
    configurable: bool
    versions: str = Field(description="Applicable SEP versions, in words.")
    expect: Expect = Expect.REACHABLE
    optional: bool = Field(
        default=False, description="The flow exists only on sites that use the feature."
    )
    feature: str | None = Field(
        default=None,
        description="Planned only when the topology enables this feature (see [features]).",
    )
    scope: Scope = Scope.NETWORK
    severity: Severity = Severity.FAIL
    notes: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(
                f"id {value!r} must be lower-case words joined by '-' (e.g. 'client-manager-http')"
            )
        return value

    @field_validator("versions")
    @classmethod
    def _check_versions(cls, value: str) -> str:
        try:
            parse_applicability(value)
        except VersionError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Entry:
        if self.scope is Scope.LOCAL and self.source is not self.destination:
            raise ValueError(
                "a local-scope entry runs on one host: source and destination must be the same role"
            )
        if self.scope is Scope.LOCAL and self.expect is Expect.UNREACHABLE:
            raise ValueError("a local-scope entry cannot be must-not-reach; use scope network")
        return self

    @cached_property
    def applicability(self) -> Applicability:
        return parse_applicability(self.versions)

    def applies_to(self, version: SepVersion | None) -> bool:
        return self.applicability.applies_to(version)

    def involves(self, role: Role) -> bool:
        return role in (self.source, self.destination)

    def public_dict(self) -> dict[str, Any]:
        """The JSON form: the contract fields first, then the rest."""
        return self.model_dump(mode="json")


class Feature(BaseModel):
    """A site option that some entries depend on (Mac push deployment, SQL Server, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: int = Field(alias="schema")
    description: str = ""
    notes: tuple[str, ...] = ()
    features: dict[str, Feature] = Field(default_factory=dict)
    entry: tuple[Entry, ...] = ()

    @field_validator("schema_")
    @classmethod
    def _check_schema(cls, value: int) -> int:
        if value != CATALOGUE_SCHEMA:
            raise ValueError(
                f"catalogue schema {value} is not supported (this sepcheck reads schema "
                f"{CATALOGUE_SCHEMA}); upgrade sepcheck or convert the file"
            )
        return value


@dataclass(frozen=True)
class Catalogue:
    """All entries, in file order, with their origin."""

    entries: tuple[Entry, ...]
    sources: tuple[Path, ...]
    features: dict[str, Feature]
    """Site options that entries can depend on, by name."""

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def by_id(self) -> dict[str, Entry]:
        return {e.id: e for e in self.entries}

    def get(self, entry_id: str) -> Entry | None:
        return self.by_id.get(entry_id)

    def select(
        self,
        version: SepVersion | None = None,
        role: Role | None = None,
        protocol: Protocol | None = None,
    ) -> Iterator[Entry]:
        """Entries that apply to ``version``, involve ``role`` and use ``protocol``."""
        for entry in self.entries:
            if not entry.applies_to(version):
                continue
            if role is not None and not entry.involves(role):
                continue
            if protocol is not None and entry.protocol is not protocol:
                continue
            yield entry


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


def _load_file(path: Path) -> tuple[_File, str]:
    document, text = load_toml(path, CatalogueError, "catalogue")
    if "schema" not in document:
        raise CatalogueError(
            "catalogue file has no 'schema' key",
            location=Location(path, 1),
            hint=f"start the file with 'schema = {CATALOGUE_SCHEMA}'",
        )
    try:
        parsed = _File.model_validate(document)
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


def _check_whole(entries: list[tuple[Entry, Path, str]], features: dict[str, Feature]) -> None:
    seen: dict[str, Path] = {}
    flows: dict[tuple[Role, Role, Protocol, int], Entry] = {}
    for entry, path, text in entries:
        id_line = _line_of_id(text, entry.id) or find_line(text, ("entry",))
        if entry.feature is not None and entry.feature not in features:
            raise CatalogueError(
                f"entry {entry.id!r}: feature {entry.feature!r} is not declared",
                location=Location(path, id_line, "entry.feature"),
                hint=f"declare it in a [features.{entry.feature}] table with a description, "
                f"or use one of: {', '.join(sorted(features)) or '(none declared)'}",
            )
        if entry.id in seen:
            raise CatalogueError(
                f"duplicate entry id {entry.id!r} (first defined in {seen[entry.id]})",
                location=Location(path, id_line, "entry.id"),
                hint="entry ids must be unique across all catalogue files",
            )
        seen[entry.id] = path
        key = (entry.source, entry.destination, entry.protocol, entry.port)
        other = flows.get(key)
        if other is not None and other.expect is not entry.expect:
            raise CatalogueError(
                f"entry {entry.id!r} expects {entry.port}/{entry.protocol} from "
                f"{entry.source} to {entry.destination} to be {entry.expect}, but entry "
                f"{other.id!r} expects it {other.expect}",
                location=Location(path, id_line, "entry.expect"),
                hint="one of the two entries is wrong: remove or correct it",
            )
        flows.setdefault(key, entry)
    by_id = {entry.id: entry for entry, _, _ in entries}
    for entry, path, text in entries:
        if entry.port_from is None:
            continue
        target = by_id.get(entry.port_from)
        problem = None
        if target is None:
            problem = f"port_from names unknown entry {entry.port_from!r}"
        elif target.port != entry.port or target.protocol is not entry.protocol:
            problem = (
                f"port_from entry {target.id!r} is {target.port}/{target.protocol}, "
                f"not {entry.port}/{entry.protocol}"
            )
        elif target.port_from is not None:
            problem = f"port_from entry {target.id!r} itself follows another entry"
        if problem:
            raise CatalogueError(
                f"entry {entry.id!r}: {problem}",
                location=Location(path, _line_of_id(text, entry.id), "entry.port_from"),
                hint="port_from must name an entry with the same protocol and port",
            )


def _line_of_id(text: str, entry_id: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"""^\s*id\s*=\s*["']{re.escape(entry_id)}["']""", line):
            return number
    return None


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
    loaded: list[tuple[Entry, Path, str]] = []
    features: dict[str, Feature] = {}
    files = _catalogue_files(root)
    for file in files:
        parsed, text = _load_file(file)
        for name, feature in parsed.features.items():
            if name in features:
                raise CatalogueError(
                    f"feature {name!r} is declared twice",
                    location=Location(
                        file, find_line(text, ("features", name)), f"features.{name}"
                    ),
                    hint="declare each feature in one catalogue file only",
                )
            features[name] = feature
        loaded.extend((entry, file, text) for entry in parsed.entry)
    if not loaded:
        raise CatalogueError(
            "catalogue holds no entries",
            location=Location(root),
            hint="add [[entry]] tables (see catalogue/README.md)",
        )
    _check_whole(loaded, features)
    return Catalogue(tuple(e for e, _, _ in loaded), tuple(files), features)
