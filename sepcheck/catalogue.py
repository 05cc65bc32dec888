"""The SEP port catalogue: load, validate and filter the flow entries in catalogue/*.toml.

Each entry is one protocol and port between a source role and a destination role, with
the expectation that it must work (``reachable``) or must not exist (``unreachable``).
The file format is documented in catalogue/README.md. Loading validates everything up
front and names the file, the entry and the field of the first problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sepcheck.data import data_dir
from sepcheck.errors import CatalogueError, Location, VersionError
from sepcheck.model import Expect, HostOS, Protocol, Role, Scope, Severity
from sepcheck.tomlsrc import find_line, load_toml
from sepcheck.validation import located_error
from sepcheck.versions import Applicability, SepVersion, parse_applicability

CATALOGUE_SCHEMA = 1
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)+$")

SITE_SETTINGS: dict[str, tuple[str, ...]] = {
    "management_server_list": ("http", "https"),
}
"""Site settings a topology can give (top-level keys) and the values each takes. A group of
alternatives names one of them (``setting``): the topology's value picks its members."""


def _valid_versions(value: str) -> str:
    try:
        parse_applicability(value)
    except VersionError as exc:
        raise ValueError(f"{exc.message} ({exc.hint})") from None
    return value


Versions = Annotated[str, AfterValidator(_valid_versions)]
"""Applicability words ('14.2 and later'), checked when the catalogue loads."""


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
    versions: Versions = Field(description="Applicable SEP versions, in words.")
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
    group: str | None = Field(
        default=None,
        description="Group of alternatives (see [groups]): one member working is enough.",
    )
    choice: str | None = Field(
        default=None,
        description="Value of the group's site setting that selects this member.",
    )
    target_os: HostOS | None = Field(
        default=None,
        description="Planned only toward host groups of this OS ('windows' also takes "
        "host groups without an os).",
    )
    ipv4_only: bool = Field(
        default=False, description="The protocol has no IPv6 form: never planned to IPv6."
    )
    via_proxy: str | None = Field(
        default=None,
        description="Id of the entry toward the proxy that carries this flow when the site "
        "declares proxy hosts; the direct flow is then not planned.",
    )
    verify: str = Field(
        default="",
        description="What to check when the flow only warns (severity warn): shown with it.",
    )
    notes: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(
                f"id {value!r} must be lower-case words joined by '-' (e.g. 'client-manager-http')"
            )
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Entry:
        if self.scope is Scope.LOCAL and self.source is not self.destination:
            raise ValueError(
                "a local-scope entry runs on one host: source and destination must be the same role"
            )
        if self.scope is Scope.LOCAL and self.expect is Expect.UNREACHABLE:
            raise ValueError("a local-scope entry cannot be must-not-reach; use scope network")
        if self.choice is not None and self.group is None:
            raise ValueError("'choice' needs 'group': it picks this member of a group")
        if self.group is not None and self.expect is Expect.UNREACHABLE:
            raise ValueError("a must-not-reach entry cannot be one of a group of alternatives")
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
    requires: tuple[str, ...] = Field(
        default=(), description="Features a topology must also enable with this one."
    )
    excludes: tuple[str, ...] = Field(
        default=(), description="Features a topology cannot enable together with this one."
    )


class GroupDefault(BaseModel):
    """The members a group takes, for some versions, when the topology does not say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    versions: Versions = Field(description="Versions this default applies to, as in entries.")
    choose: tuple[str, ...] = Field(min_length=1)
    why: str = Field(default="", description="Why this is the default, for plans to show.")

    def applies_to(self, version: SepVersion | None) -> bool:
        return parse_applicability(self.versions).applies_to(version)


class Group(BaseModel):
    """Flows that are alternatives: a host passes when one of them works for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1)
    setting: str | None = Field(
        default=None, description="Site setting (topology key) whose values pick the members."
    )
    defaults: tuple[GroupDefault, ...] = Field(
        default=(),
        description="Members by version when the topology leaves the setting out; "
        "the first that applies wins.",
    )

    @field_validator("setting")
    @classmethod
    def _check_setting(cls, value: str | None) -> str | None:
        if value is not None and value not in SITE_SETTINGS:
            raise ValueError(
                f"unknown site setting {value!r}; known: {', '.join(sorted(SITE_SETTINGS))}"
            )
        return value

    def default_choice(self, version: SepVersion | None) -> GroupDefault | None:
        """The first default that applies to ``version``; for an unknown version, every
        member any default takes (the site could be any of them)."""
        if version is None and self.defaults:
            every = tuple(dict.fromkeys(c for d in self.defaults for c in d.choose))
            return GroupDefault(versions="all", choose=every, why="the site's version is not given")
        return next((d for d in self.defaults if d.applies_to(version)), None)


class RoleInfo(BaseModel):
    """What the catalogue says of a role: a GUP is also a client, and so on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    implies: tuple[Role, ...] = Field(
        default=(), description="Roles a host of this role also plays (its flows too)."
    )
    why: str = Field(default="", description="The reason, with its source, for plans to show.")


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: int = Field(alias="schema")
    description: str = ""
    notes: tuple[str, ...] = ()
    features: dict[str, Feature] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(default_factory=dict)
    roles: dict[Role, RoleInfo] = Field(default_factory=dict)
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
    groups: dict[str, Group] = field(default_factory=dict)
    """Groups of alternatives, by name."""
    roles: dict[Role, RoleInfo] = field(default_factory=dict)
    """What the catalogue says of roles (implications), by role."""

    def implied_roles(self, roles: Iterable[Role]) -> dict[Role, Role]:
        """Roles implied by ``roles`` (transitively) that are not among them, each with
        the role that brought it in."""
        given = list(dict.fromkeys(roles))
        found: dict[Role, Role] = {}
        queue = list(given)
        while queue:
            role = queue.pop(0)
            info = self.roles.get(role)
            for implied in info.implies if info else ():
                if implied not in given and implied not in found:
                    found[implied] = role
                    queue.append(implied)
        return found

    def implying(self, role: Role) -> tuple[Role, ...]:
        """Roles whose hosts also play ``role`` (a GUP host is a client host too)."""
        out = [r for r in self.roles if role in self.implied_roles([r])]
        return tuple(out)

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


def _check_links(
    entries: list[tuple[Entry, Path, str]],
    features: dict[str, Feature],
    groups: dict[str, Group],
) -> None:
    """Groups, choices, proxies and feature links name things that exist and fit."""
    by_id = {entry.id: entry for entry, _, _ in entries}
    for entry, path, text in entries:
        problem, key, hint = _link_problem(entry, by_id, groups)
        if problem:
            raise CatalogueError(
                f"entry {entry.id!r}: {problem}",
                location=Location(path, _line_of_id(text, entry.id), f"entry.{key}"),
                hint=hint,
            )
    for name, feature in features.items():
        for other in (*feature.requires, *feature.excludes):
            if other not in features:
                raise CatalogueError(
                    f"feature {name!r} names undeclared feature {other!r}",
                    location=Location(None, None, f"features.{name}"),
                    hint="requires and excludes name features declared in [features]",
                )
    for name, group in groups.items():
        allowed = SITE_SETTINGS.get(group.setting or "", ())
        members = [e for e, _, _ in entries if e.group == name]
        if not members:
            raise CatalogueError(
                f"group {name!r} has no member entries",
                location=Location(None, None, f"groups.{name}"),
                hint=f"add group = {name!r} to the entries that are alternatives, or remove it",
            )
        for default in group.defaults:
            for value in default.choose:
                if value not in allowed:
                    raise CatalogueError(
                        f"group {name!r}: default choice {value!r} is not a value of "
                        f"setting {group.setting!r}",
                        location=Location(None, None, f"groups.{name}.defaults"),
                        hint=f"choose from: {', '.join(allowed) or '(the group has no setting)'}",
                    )


def _link_problem(
    entry: Entry, by_id: dict[str, Entry], groups: dict[str, Group]
) -> tuple[str, str, str]:
    """What is wrong with the entry's group, choice or proxy link ('' when nothing)."""
    if entry.group is not None:
        group = groups.get(entry.group)
        if group is None:
            return (
                f"group {entry.group!r} is not declared",
                "group",
                f"declare it in a [groups.{entry.group}] table with a description",
            )
        others = [e for e in by_id.values() if e.group == entry.group and e is not entry]
        if any((o.source, o.destination) != (entry.source, entry.destination) for o in others):
            return (
                f"members of group {entry.group!r} must share source and destination",
                "group",
                "alternatives are ways for one source to reach one destination",
            )
        allowed = SITE_SETTINGS.get(group.setting or "", ())
        if (entry.choice is None) != (not allowed):
            return (
                "a member of a group with a setting needs a choice (and only then)",
                "choice",
                f"add choice = one of {', '.join(allowed)}" if allowed else "remove choice",
            )
        if entry.choice is not None and entry.choice not in allowed:
            return (
                f"choice {entry.choice!r} is not a value of setting {group.setting!r}",
                "choice",
                f"use one of: {', '.join(allowed)}",
            )
    if entry.via_proxy is not None:
        proxy = by_id.get(entry.via_proxy)
        if proxy is None or proxy.destination is not Role.PROXY or proxy.source != entry.source:
            return (
                f"via_proxy {entry.via_proxy!r} is not an entry from {entry.source} to proxy",
                "via_proxy",
                "via_proxy names the entry that checks the path to the site's proxy",
            )
    return "", "", ""


def _line_of_id(text: str, entry_id: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"""^\s*id\s*=\s*["']{re.escape(entry_id)}["']""", line):
            return number
    return None


K = TypeVar("K", bound=str)
V = TypeVar("V")


def _absorb(table: str, found: dict[K, V], into: dict[K, V], file: Path, text: str) -> None:
    """Add one file's declarations to the catalogue's; each name is declared once."""
    for name, value in found.items():
        if name in into:
            raise CatalogueError(
                f"{table.rstrip('s')} {name!r} is declared twice",
                location=Location(file, find_line(text, (table, name)), f"{table}.{name}"),
                hint=f"declare each of [{table}] in one catalogue file only",
            )
        into[name] = value


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
    groups: dict[str, Group] = {}
    roles: dict[Role, RoleInfo] = {}
    files = _catalogue_files(root)
    for file in files:
        parsed, text = _load_file(file)
        _absorb("features", parsed.features, features, file, text)
        _absorb("groups", parsed.groups, groups, file, text)
        _absorb("roles", parsed.roles, roles, file, text)
        loaded.extend((entry, file, text) for entry in parsed.entry)
    if not loaded:
        raise CatalogueError(
            "catalogue holds no entries",
            location=Location(root),
            hint="add [[entry]] tables (see catalogue/README.md)",
        )
    _check_whole(loaded, features)
    _check_links(loaded, features, groups)
    return Catalogue(tuple(e for e, _, _ in loaded), tuple(files), features, groups, roles)
