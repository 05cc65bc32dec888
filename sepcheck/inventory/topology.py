"""The inventory as a topology file: one ``[[roles.ROLE]]`` host group per inventory group
that gives the role (and per host that sets its own), with the site's values on top.

The text is written here, not through a TOML library (the standard library reads TOML
but does not write it); ``init`` loads it back with the topology loader before writing
it, so a file it writes always loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sepcheck.errors import Location, TopologyError
from sepcheck.inventory.read import Inventory, InventoryHost
from sepcheck.inventory.variables import (
    OS_VAR,
    ROLES_VAR,
    SITE_VARS,
    InventoryError,
    SiteValue,
)
from sepcheck.model import HostOS, Role

_ROLE_ORDER = {role: index for index, role in enumerate(Role)}


@dataclass(frozen=True)
class TopologyGroup:
    """One host group of the topology: the hosts of an inventory group that play ``role``
    on ``os``, or one host that sets its own roles or os."""

    role: Role
    description: str
    os: HostOS | None
    hosts: tuple[InventoryHost, ...]


def topology_groups(inventory: Inventory, path: Path | None = None) -> tuple[TopologyGroup, ...]:
    """The host groups, by role (in the roles' usual order), each in inventory order; an
    error when no host has a role."""
    found: dict[tuple[Role, str, HostOS | None], list[InventoryHost]] = {}
    for host in inventory.hosts:
        where = f"group {host.home}" if host.home is not None else f"host {host.name}"
        for role in host.roles:
            found.setdefault((role, where, host.os), []).append(host)
    if not found:
        raise InventoryError(
            f"no host has a role: none has {ROLES_VAR}",
            location=Location(path, None, ROLES_VAR),
            hint=f"set {ROLES_VAR} in the variables of the groups whose hosts play a SEP role, "
            f"e.g. {ROLES_VAR}: [manager]",
        )
    ordered = sorted(found.items(), key=lambda item: _ROLE_ORDER[item[0][0]])
    return tuple(
        TopologyGroup(role, _description(where, os), os, tuple(hosts))
        for (role, where, os), hosts in ordered
    )


def _description(where: str, os: HostOS | None) -> str:
    kind, name = where.split(" ", 1)
    if kind == "host":
        return f"Ansible host {name} (its own {ROLES_VAR} or {OS_VAR})"
    return f"Ansible group {name}"


def topology_toml(inventory: Inventory, groups: tuple[TopologyGroup, ...], source: str) -> str:
    """The topology file; ``source`` names the inventory in its heading."""
    return "\n".join(_lines(inventory, groups, source)) + "\n"


def _lines(inventory: Inventory, groups: tuple[TopologyGroup, ...], source: str) -> Iterator[str]:
    yield "# sepcheck topology made by `sepcheck init --from-ansible-inventory` from"
    yield f"# {_comment(source)}"
    yield "# Each host group is an inventory group, or a host that sets its own roles or os."
    yield "# Make it again when the inventory changes."
    for var, key in SITE_VARS.items():
        value = inventory.site.get(key)
        if value is not None:
            yield f"{key} = {_value(value)}  # {var} of {_comment(value.source)}"
    for group in groups:
        yield ""
        yield f"[[roles.{group.role.value}]]"
        yield f"description = {_string(group.description)}"
        if group.os is not None:
            yield f"os = {_string(group.os.value)}"
        yield "hosts = ["
        seen: set[str] = set()
        for host in group.hosts:
            if host.address in seen:
                continue  # two inventory names for one address: probed once
            seen.add(host.address)
            named = f"  # {_comment(host.name)}" if host.name != host.address else ""
            yield f"  {_string(host.address)},{named}"
        yield "]"


def _value(value: SiteValue) -> str:
    if isinstance(value.value, str):
        return _string(value.value)
    return "[" + ", ".join(_string(v) for v in value.value) + "]"


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped (TOML
    allows no raw control character but tab, nor DEL); a lone surrogate, which no UTF-8
    file can hold, becomes U+FFFD."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\uFFFD")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """``text`` on one comment line: control characters (a newline would end the comment)
    and lone surrogates replaced."""
    return "".join(
        "?" if ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF else c for c in text
    )


def topology_error(inventory: Inventory, exc: TopologyError, path: Path | None) -> InventoryError:
    """An error of the topology made (found when it is loaded back) in the inventory's
    words: the variable, and the group (or host) that set it."""
    key = exc.location.key if exc.location else None
    for var, name in SITE_VARS.items():
        value = inventory.site.get(name)
        if key is not None and value is not None and key.split("[")[0] == name:
            return InventoryError(
                exc.message, location=Location(path, None, f"{value.source}: {var}"), hint=exc.hint
            )
    return InventoryError(
        f"the topology made from the inventory is not valid: {exc}",
        location=Location(path),
        hint=exc.hint,
    )
