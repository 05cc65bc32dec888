"""The site topology: which hosts play which role, which SEP version, which options.

Loaded from a TOML file (format in README.md, example from ``sepcheck init``) and
validated against the catalogue, so that a port override names a real, configurable entry
and a feature exists. Host lists stay lazy (see hosts.py); names are not resolved here.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from sepcheck.catalogue import SITE_SETTINGS, Catalogue, Entry
from sepcheck.errors import Location, TopologyError, VersionError
from sepcheck.hosts import (
    SAFE_BLOCK_LIMIT,
    FileSpec,
    HostFileError,
    HostFileUnreadable,
    HostSpec,
    HostSpecError,
    NameSpec,
    iter_host_file,
    parse_host_spec,
)
from sepcheck.model import ROLE_NAMES, HostOS, Role
from sepcheck.tomlsrc import KeyPath, find_line, format_key, load_toml
from sepcheck.validation import located_error
from sepcheck.versions import SepVersion, parse_version


class _RoleDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list)
    host_files: list[str] = Field(default_factory=list)
    description: str = ""
    os: HostOS | None = None


class _FlowsDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip: list[str] = Field(default_factory=list)


class _TopologyDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    sep_version: str | None = None
    management_server_list: list[str] | None = None
    features: list[str] = Field(default_factory=list)
    # [roles.client] is one host group; [[roles.client]] several (e.g. Windows and Mac).
    roles: dict[str, _RoleDoc | list[_RoleDoc]] = Field(default_factory=dict)
    ports: dict[str, StrictInt] = Field(default_factory=dict)
    flows: _FlowsDoc = Field(default_factory=_FlowsDoc)


@dataclass(frozen=True)
class HostGroup:
    """One table of a role's hosts, with the OS the user tagged it with (if any)."""

    specs: tuple[HostSpec, ...]
    os: HostOS | None = None
    description: str = ""

    def runs(self, os: HostOS) -> bool:
        """True when push deployment for ``os`` targets this group: Mac push needs a group
        tagged mac; Windows push also takes untagged groups, since most clients are
        Windows."""
        return self.os is os or (self.os is None and os is HostOS.WINDOWS)


@dataclass(frozen=True)
class Topology:
    """A validated site description."""

    path: Path | None
    """The file it came from; None when built from command-line options."""
    digest: str
    """sha256 of the file's text (UTF-8, without a byte-order mark; or of the options), so
    reports can tell topologies apart."""
    name: str | None = None
    sep_version: SepVersion | None = None
    features: frozenset[str] = frozenset()
    groups: Mapping[Role, tuple[HostGroup, ...]] = field(default_factory=dict)
    """Each role's host groups, in file order."""
    settings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Site settings the file gives (management_server_list), by name."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """Port overrides by entry id."""
    skip: frozenset[str] = frozenset()
    """Entry ids the user excluded from every plan."""

    def hosts(self, role: Role, os: HostOS | None = None) -> tuple[HostSpec, ...]:
        """The role's host specs; with ``os``, only those of groups that run it."""
        return tuple(
            spec
            for group in self.groups.get(role, ())
            if os is None or group.runs(os)
            for spec in group.specs
        )

    @property
    def roles(self) -> tuple[Role, ...]:
        """Roles that have hosts, in file order."""
        return tuple(self.groups)

    def host_count(self, role: Role) -> int:
        return sum(spec.count for spec in self.hosts(role))

    def port_for(self, entry: Entry) -> int:
        """The port to probe for ``entry``, after overrides (also through ``port_from``)."""
        return self.ports.get(entry.port_from or entry.id, entry.port)


class _Ctx:
    """What error messages need: the file, its text, and how to build located errors."""

    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.text = text

    def error(
        self, message: str, key: KeyPath, hint: str | None = None, value: str | None = None
    ) -> TopologyError:
        line = find_line(self.text, key, value) if self.text else None
        return TopologyError(
            message, location=Location(self.path, line, format_key(key)), hint=hint
        )


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def load_topology(
    path: Path,
    catalogue: Catalogue,
    *,
    allow_large: bool = False,
    block_limit: int = SAFE_BLOCK_LIMIT,
) -> Topology:
    """Read and validate the topology file at ``path``."""
    document, text = load_toml(path, TopologyError, "topology")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return build_topology(
        document,
        catalogue,
        path=path,
        text=text,
        digest=digest,
        allow_large=allow_large,
        block_limit=block_limit,
    )


def topology_from_hosts(
    role_hosts: Mapping[Role, Sequence[str]],
    catalogue: Catalogue,
    *,
    sep_version: str | None = None,
    features: Sequence[str] = (),
    allow_large: bool = False,
    management_server_list: Sequence[str] = (),
) -> Topology:
    """Build a topology from command-line options (``--manager HOST --gup HOST ...``)."""
    document: dict[str, Any] = {
        "roles": {role.value: {"hosts": list(hosts)} for role, hosts in role_hosts.items()},
        "features": list(features),
    }
    if management_server_list:
        document["management_server_list"] = list(management_server_list)
    if sep_version is not None:
        document["sep_version"] = sep_version
    digest = hashlib.sha256(repr(sorted(document.items())).encode()).hexdigest()
    return build_topology(document, catalogue, digest=digest, allow_large=allow_large)


def build_topology(
    document: dict[str, Any],
    catalogue: Catalogue,
    *,
    path: Path | None = None,
    text: str = "",
    digest: str = "",
    allow_large: bool = False,
    block_limit: int = SAFE_BLOCK_LIMIT,
) -> Topology:
    ctx = _Ctx(path, text)
    try:
        doc = _TopologyDoc.model_validate(document)
    except ValidationError as exc:
        error = located_error(exc, TopologyError, path, text)
        if error.message.startswith("unknown key") and error.location and error.location.key:
            if "." not in error.location.key:
                error.hint = (
                    "top-level keys are name, sep_version, management_server_list, features, "
                    "[roles.ROLE] (or [[roles.ROLE]] host groups), [ports] "
                    "and [flows]"
                )
            elif error.location.key.startswith("roles."):
                error.hint = "a role table holds hosts, host_files, description and os"
        raise error from None

    version: SepVersion | None = None
    if doc.sep_version is not None:
        try:
            version = parse_version(doc.sep_version)
        except VersionError as exc:
            raise ctx.error(exc.message, ("sep_version",), exc.hint) from None

    for feature in doc.features:
        if feature not in catalogue.features:
            hint = _suggest(feature, catalogue.features) or "known features: " + ", ".join(
                sorted(catalogue.features)
            )
            raise ctx.error(f"unknown feature {feature!r}", ("features",), hint, feature)

    _check_features(ctx, doc.features, catalogue)
    settings = _check_settings(ctx, doc)
    groups: dict[Role, tuple[HostGroup, ...]] = {}
    for name, role_docs in doc.roles.items():
        try:
            role = Role(name)
        except ValueError:
            hint = _suggest(name, (r.value for r in Role)) or f"roles are: {ROLE_NAMES}"
            raise ctx.error(f"unknown role {name!r}", ("roles", name), hint) from None
        listed = role_docs if isinstance(role_docs, list) else [role_docs]
        if not listed:
            raise ctx.error(
                f"role {name!r} has no host groups",
                ("roles", name),
                f"add a [[roles.{name}]] table with hosts = [...], or remove the key",
            )
        groups[role] = tuple(
            HostGroup(
                _role_hosts(
                    ctx,
                    role,
                    item,
                    allow_large,
                    block_limit,
                    index if isinstance(role_docs, list) else None,
                ),
                item.os,
                item.description,
            )
            for index, item in enumerate(listed)
        )

    ports = _check_ports(ctx, doc.ports, catalogue)
    for index, entry_id in enumerate(doc.flows.skip):
        if catalogue.get(entry_id) is None:
            raise ctx.error(
                f"unknown entry id {entry_id!r} in flows.skip",
                ("flows", "skip", index),
                _suggest(entry_id, catalogue.by_id) or "see `sepcheck catalogue` for the ids",
                entry_id,
            )
    return Topology(
        path=path,
        digest=digest,
        name=doc.name,
        sep_version=version,
        features=frozenset(doc.features),
        groups=groups,
        settings=settings,
        ports=ports,
        skip=frozenset(doc.flows.skip),
    )


def _check_features(ctx: _Ctx, features: list[str], catalogue: Catalogue) -> None:
    """Features that need another one, or exclude one, are given consistently."""
    for name in features:
        feature = catalogue.features[name]
        for needed in feature.requires:
            if needed not in features:
                raise ctx.error(
                    f"feature {name!r} needs feature {needed!r}",
                    ("features",),
                    f"add {needed!r} to features, or remove {name!r}",
                    name,
                )
        for other in feature.excludes:
            if other in features:
                raise ctx.error(
                    f"features {name!r} and {other!r} exclude each other",
                    ("features",),
                    "a site uses one database: the automatically installed one on the manager "
                    "(embedded_database) or a remote SQL Server (sql_server_database)"
                    if {name, other} == {"embedded_database", "sql_server_database"}
                    else f"keep one of {name!r} and {other!r}",
                    other,
                )


def _check_settings(ctx: _Ctx, doc: _TopologyDoc) -> dict[str, tuple[str, ...]]:
    settings: dict[str, tuple[str, ...]] = {}
    given = {"management_server_list": doc.management_server_list}
    for name, values in given.items():
        if values is None:
            continue
        allowed = SITE_SETTINGS[name]
        if not values:
            raise ctx.error(
                f"{name} is empty",
                (name,),
                f"name the protocols the clients' {name.replace('_', ' ')} uses: "
                + ", ".join(repr(v) for v in allowed)
                + "; or leave the key out for the default of the site's version",
            )
        for index, value in enumerate(values):
            if value not in allowed:
                raise ctx.error(
                    f"unknown value {value!r}",
                    (name, index),
                    f"use {' and/or '.join(repr(v) for v in allowed)}",
                    value,
                )
        settings[name] = tuple(dict.fromkeys(values))
    return settings


def _role_hosts(
    ctx: _Ctx,
    role: Role,
    doc: _RoleDoc,
    allow_large: bool,
    block_limit: int,
    group: int | None,
) -> tuple[HostSpec, ...]:
    # [[roles.client]] tables are counted in error keys: roles.client[1].hosts[0].
    where: tuple[str | int, ...] = ("roles", role.value)
    if group is not None:
        where = (*where, group)
    specs: list[HostSpec] = []
    for index, text in enumerate(doc.hosts):
        try:
            specs.append(parse_host_spec(text, allow_large=allow_large, limit=block_limit))
        except HostSpecError as exc:
            hint = exc.hint or (
                "a host is a name, an IPv4 or IPv6 address, a CIDR block (198.18.1.0/24) or "
                "a range (198.18.3.5-9)"
            )
            raise ctx.error(str(exc), (*where, "hosts", index), hint, text) from None
    base = ctx.path.parent if ctx.path is not None else Path.cwd()
    for index, name in enumerate(doc.host_files):
        key = (*where, "host_files", index)
        if "\0" in name:
            # The OS cannot take the name, and Path.resolve() says so with a ValueError.
            raise ctx.error("a hosts file name cannot hold a NUL character", key)
        try:
            file = (base / name).resolve()
        except RuntimeError:  # Python 3.11 says "Symlink loop" so, not with an OSError
            raise ctx.error(
                f"cannot read hosts file {name!r}: its path is a loop of symbolic links",
                key,
                value=name,
            ) from None
        total = v6_total = 0
        try:
            for _, spec in iter_host_file(file, allow_large=allow_large, limit=block_limit):
                total += spec.count
                if ":" in spec.text and not isinstance(spec, NameSpec):
                    v6_total += spec.count
        except HostFileError as exc:
            raise TopologyError(
                f"{exc} (in the hosts file of role {role.value})",
                location=Location(file, exc.line),
                hint=exc.hint
                or "one host, address, CIDR block or range per line; '#' starts a comment",
            ) from None
        except HostFileUnreadable as exc:
            raise ctx.error(f"hosts file {str(file)!r} {exc}", key, exc.hint, name) from None
        except FileNotFoundError as exc:
            raise ctx.error(
                f"cannot read hosts file {str(file)!r}: {exc.strerror}",
                key,
                "host_files paths are relative to the topology file's folder",
                name,
            ) from None
        except OSError as exc:
            raise ctx.error(
                f"cannot read hosts file {str(file)!r}: {exc.strerror}", key, value=name
            ) from None
        specs.append(FileSpec(name, file, total, allow_large, block_limit, v6_total))
    if not specs:
        raise ctx.error(
            f"role {role.value!r} has no hosts",
            where,
            f"add hosts = [...] to this [roles.{role.value}] table (or [[roles.{role.value}]] "
            "host group), or remove it",
        )
    return tuple(specs)


def _check_ports(ctx: _Ctx, overrides: dict[str, int], catalogue: Catalogue) -> dict[str, int]:
    for entry_id, port in overrides.items():
        key = ("ports", entry_id)
        entry = catalogue.get(entry_id)
        if entry is None:
            raise ctx.error(
                f"unknown entry id {entry_id!r}",
                key,
                _suggest(entry_id, catalogue.by_id) or "see `sepcheck catalogue` for the ids",
            )
        if entry.port_from is not None:
            raise ctx.error(
                f"entry {entry_id!r} follows the port of {entry.port_from!r}",
                key,
                f"override {entry.port_from} instead; both follow it",
            )
        if not entry.configurable:
            raise ctx.error(
                f"entry {entry_id!r} ({entry.protocol}/{entry.port}) is not configurable in "
                "SEP, so its port cannot be overridden",
                key,
                f"remove {entry_id} from [ports]",
            )
        if not 1 <= port <= 65535:
            raise ctx.error(
                f"port {port} for {entry_id!r} is out of range", key, "use a port from 1 to 65535"
            )
    return dict(overrides)
