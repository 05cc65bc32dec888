"""The catalogue file model: what one catalogue/*.toml file may hold, as pydantic models.

Each model checks what it can see alone (an entry's id, a local entry's roles, a group's
site setting, the file's schema number); what needs the whole catalogue (unique ids,
declared features and groups, ``port_from`` and ``via_proxy`` links) is checked in
``checks.py`` once every file is read. The field names of ``Entry`` are the public JSON
contract (catalogue/README.md).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sepcheck.errors import VersionError
from sepcheck.model import Expect, HostOS, Protocol, Role, Scope, Severity
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


class CatalogueFile(BaseModel):
    """One catalogue file as written; ``load.py`` merges the files into a Catalogue."""

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
