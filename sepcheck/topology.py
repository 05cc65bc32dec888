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

from sepcheck.catalogue import Catalogue, Entry
from sepcheck.errors import Location, TopologyError, VersionError
from sepcheck.hosts import (
    SAFE_BLOCK_LIMIT,
    FileSpec,
    HostFileError,
    HostSpec,
    HostSpecError,
    iter_host_file,
    parse_host_spec,
)
from sepcheck.model import ROLE_NAMES, Role
from sepcheck.tomlsrc import KeyPath, find_line, format_key, load_toml
from sepcheck.validation import located_error
from sepcheck.versions import SepVersion, parse_version


class _RoleDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list)
    host_files: list[str] = Field(default_factory=list)
    description: str = ""


class _FlowsDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip: list[str] = Field(default_factory=list)


class _TopologyDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    sep_version: str | None = None
    features: list[str] = Field(default_factory=list)
    roles: dict[str, _RoleDoc] = Field(default_factory=dict)
    ports: dict[str, StrictInt] = Field(default_factory=dict)
    flows: _FlowsDoc = Field(default_factory=_FlowsDoc)


@dataclass(frozen=True)
class Topology:
    """A validated site description."""

    path: Path | None
    """The file it came from; None when built from command-line options."""
    digest: str
    """sha256 of the file's bytes (or of the options), so reports can tell topologies apart."""
    name: str | None = None
    sep_version: SepVersion | None = None
    features: frozenset[str] = frozenset()
    roles: Mapping[Role, tuple[HostSpec, ...]] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    """Port overrides by entry id."""
    skip: frozenset[str] = frozenset()
    """Entry ids the user excluded from every plan."""

    def hosts(self, role: Role) -> tuple[HostSpec, ...]:
        return self.roles.get(role, ())

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
) -> Topology:
    """Build a topology from command-line options (``--manager HOST --gup HOST ...``)."""
    document: dict[str, Any] = {
        "roles": {role.value: {"hosts": list(hosts)} for role, hosts in role_hosts.items()},
        "features": list(features),
    }
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
                    "top-level keys are name, sep_version, features, [roles.ROLE], [ports] "
                    "and [flows]"
                )
            elif error.location.key.startswith("roles."):
                error.hint = "a role table holds hosts, host_files and description"
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

    roles: dict[Role, tuple[HostSpec, ...]] = {}
    for name, role_doc in doc.roles.items():
        try:
            role = Role(name)
        except ValueError:
            hint = _suggest(name, (r.value for r in Role)) or f"roles are: {ROLE_NAMES}"
            raise ctx.error(f"unknown role {name!r}", ("roles", name), hint) from None
        roles[role] = _role_hosts(ctx, role, role_doc, allow_large, block_limit)

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
        roles=roles,
        ports=ports,
        skip=frozenset(doc.flows.skip),
    )


def _role_hosts(
    ctx: _Ctx, role: Role, doc: _RoleDoc, allow_large: bool, block_limit: int
) -> tuple[HostSpec, ...]:
    specs: list[HostSpec] = []
    for index, text in enumerate(doc.hosts):
        try:
            specs.append(parse_host_spec(text, allow_large=allow_large, limit=block_limit))
        except HostSpecError as exc:
            raise ctx.error(str(exc), ("roles", role.value, "hosts", index), value=text) from None
    base = ctx.path.parent if ctx.path is not None else Path.cwd()
    for index, name in enumerate(doc.host_files):
        file = (base / name).resolve()
        key = ("roles", role.value, "host_files", index)
        total = 0
        try:
            for _, spec in iter_host_file(file, allow_large=allow_large, limit=block_limit):
                total += spec.count
        except HostFileError as exc:
            raise TopologyError(
                f"{exc} (in the hosts file of role {role.value})",
                location=Location(file, exc.line),
                hint="one host, address, CIDR block or range per line; '#' starts a comment",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ctx.error(
                f"cannot read hosts file {str(file)!r}: {reason}",
                key,
                "host_files paths are relative to the topology file's folder",
                name,
            ) from None
        specs.append(FileSpec(name, file, total, allow_large, block_limit))
    if not specs:
        raise ctx.error(
            f"role {role.value!r} has no hosts",
            ("roles", role.value),
            f"add hosts = [...] to [roles.{role.value}], or remove the table",
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
