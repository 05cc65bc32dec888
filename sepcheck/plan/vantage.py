"""The vantage: which roles the host running sepcheck plays, given or inferred.

``--as`` gives the roles; without it they are inferred from the topology, by finding this
host's addresses and names among each role's hosts. The evidence is kept, so the user sees
why sepcheck thinks it is, say, a GUP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sepcheck.hosts import IPAddress, NameSpec
from sepcheck.model import Role

if TYPE_CHECKING:
    # Only a type here: importing the topology would load pydantic with the plan.
    from sepcheck.topology import Topology


@dataclass(frozen=True)
class Vantage:
    """The roles of the host that runs sepcheck, and how they were found."""

    roles: tuple[Role, ...]
    inferred: bool = False
    evidence: str = ""
    """For inferred roles: which local address or name matched which role."""
    implied: tuple[tuple[Role, Role, str], ...] = ()
    """Roles the given ones bring with them: (implied role, by role, why)."""

    @property
    def all_roles(self) -> tuple[Role, ...]:
        return (*self.roles, *(role for role, _, _ in self.implied))


def infer_vantage(
    topology: Topology, addresses: Iterable[IPAddress], names: Iterable[str]
) -> Vantage | None:
    """Roles whose hosts include one of this host's addresses or names, or None."""
    addresses = [a for a in addresses if not a.is_loopback and not a.is_link_local]
    lowered = {n.lower().rstrip(".") for n in names if n}
    found: dict[Role, str] = {}
    for role in Role:
        for spec in topology.hosts(role):
            if isinstance(spec, NameSpec) and spec.text.lower().rstrip(".") in lowered:
                found[role] = f"name {spec.text}"
                break
            match = next((a for a in addresses if spec.contains(a)), None)
            if match is not None:
                found[role] = f"address {match} in {spec.text}"
                break
    if not found:
        return None
    evidence = "; ".join(f"{role.value} ({why})" for role, why in found.items())
    return Vantage(tuple(found), inferred=True, evidence=evidence)
