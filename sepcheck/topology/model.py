"""The validated topology as a value: each role's host groups, the site's version,
features, settings, port overrides and skipped flows.

The value needs neither pydantic nor the catalogue at run time; code that uses Topology
only as a type (the plan) imports it under TYPE_CHECKING, since importing the package
loads the file model and pydantic with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sepcheck.hosts import HostSpec
from sepcheck.model import HostOS, Role
from sepcheck.versions import SepVersion

if TYPE_CHECKING:
    # Only a type here (of port_for's parameter).
    from sepcheck.catalogue import Entry


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
    version_auto: bool = False
    """sep_version = "auto": ``check`` reads the version from the manager's REST API and
    plans with it (``sep_version`` is then the version read, or None when none answered)."""
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
