"""The loaded catalogue as a value, and the questions asked of it.

``Catalogue`` holds every entry in file order with the declarations that go with them
(features, groups of alternatives, role implications). The plan, the topology checks and
the ``catalogue`` command ask it for an entry by id, for the entries that apply to a
version, a role and a protocol, and for the roles a host also plays (a GUP is a client).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sepcheck.catalogue.model import Entry, Feature, Group, RoleInfo
from sepcheck.model import Protocol, Role
from sepcheck.versions import SepVersion


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
