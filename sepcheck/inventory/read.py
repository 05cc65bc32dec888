"""Reading the inventory listing: its groups and hosts, Ansible's merge order of their
variables, each host's roles, os, address and host group, and the site-level values."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sepcheck.errors import Location
from sepcheck.hosts import HostSpecError, parse_host_spec
from sepcheck.inventory.variables import (
    HINT,
    OS_VAR,
    ROLES_VAR,
    Errors,
    InventoryError,
    SiteValue,
    check_vars,
    site_values,
)
from sepcheck.model import HostOS, Role

_HOME_VARS = (ROLES_VAR, OS_VAR)
_NO_HOME = ("all", "ungrouped")
"""Groups that give no host group: every host is in ``all``; ``ungrouped`` is in no
group."""


@dataclass(frozen=True)
class InventoryHost:
    name: str
    """The inventory name (what ``--roles-of`` takes)."""
    address: str
    roles: tuple[Role, ...]
    os: HostOS | None
    home: str | None
    """The inventory group whose host group it joins; None: its own (host variables)."""


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[InventoryHost, ...]
    """Every host, in inventory order, with a role or not."""
    site: Mapping[str, SiteValue]
    """Site-level values by topology key (``sep_version``...)."""
    notes: tuple[str, ...] = ()
    """What was read but not used, and why (said on stderr)."""

    def roles_of(self, name: str) -> tuple[Role, ...] | None:
        """The roles of the host named ``name``; None when the inventory has no such host."""
        return next((h.roles for h in self.hosts if h.name == name), None)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts if not h.roles)


@dataclass(frozen=True)
class _Group:
    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    vars: Mapping[str, Any]
    members: frozenset[str]
    """``hosts``, to look up."""


def parse_inventory(text: str, path: Path | None = None) -> Inventory:
    """Read the JSON text of an inventory listing; ``path`` only names it in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InventoryError(
            f"not valid JSON ({exc.msg} at {where})", location=Location(path), hint=HINT
        ) from None
    except (ValueError, RecursionError):
        raise InventoryError("not valid JSON", location=Location(path), hint=HINT) from None
    return read_inventory(data, path)


def read_inventory(data: object, path: Path | None = None) -> Inventory:
    """The inventory in parsed JSON, every sepcheck variable checked."""

    error = Errors(path)
    if not isinstance(data, dict):
        raise InventoryError("not an inventory: not a JSON object", location=Location(path))
    groups = {name: _group(name, value, error) for name, value in data.items() if name != "_meta"}
    hostvars = _hostvars(data.get("_meta"), error)
    for group in groups.values():
        check_vars(group.vars, f"group {group.name}", error)
    for name, values in hostvars.items():
        check_vars(values, f"host {name}", error)
    rank = _ranks(groups, error)
    names = _host_order(groups, hostvars)
    if not names:
        raise InventoryError("the inventory has no hosts", location=Location(path), hint=HINT)
    exported = any(g.vars for g in groups.values())
    notes: list[str] = []
    member = _membership(groups, names)
    hosts = [
        _host(
            name,
            groups,
            sorted((g for g in member[name] if g in groups), key=rank.__getitem__),
            hostvars.get(name, {}),
            exported,
            notes,
            error,
        )
        for name in names
    ]
    if not exported:
        hosts = _overrides_by_majority(hosts)
    ranked = sorted(groups, key=rank.__getitem__)
    site = site_values([(g, groups[g].vars) for g in ranked], hostvars, notes, error)
    return Inventory(tuple(hosts), site, tuple(notes))


def _group(name: str, value: object, error: Errors) -> _Group:
    where = f"group {name}"
    if isinstance(value, list):
        # The shape of Ansible's magic variable `groups` (each group's hosts, children's
        # included), which the collection writes from inside a play: no vars, no children.
        value = {"hosts": value}
    if not isinstance(value, dict):
        raise error(where, "must be an object with hosts, children and vars", HINT)
    hosts = _names(value.get("hosts", []), f"{where}: hosts", error)
    children = _names(value.get("children", []), f"{where}: children", error)
    variables = value.get("vars") or {}
    if not isinstance(variables, dict):
        raise error(f"{where}: vars", "must be an object of variables")
    return _Group(name, hosts, children, variables, frozenset(hosts))


def _names(value: object, key: str, error: Errors) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise error(key, "must be a list of names")
    return tuple(value)


def _hostvars(meta: object, error: Errors) -> dict[str, dict[str, Any]]:
    if meta is None:
        return {}
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
    if not isinstance(hostvars, dict):
        raise error("_meta", "must be an object holding hostvars", HINT)
    for name, values in hostvars.items():
        if not isinstance(values, dict):
            raise error(f"host {name}", "its variables must be an object")
    return hostvars


def _ranks(groups: Mapping[str, _Group], error: Errors) -> dict[str, tuple[int, int, str]]:
    """Each group's place in Ansible's merge order: (depth, priority, name); the depth is
    the longest path from ``all``."""
    parents: dict[str, list[str]] = {}
    for group in groups.values():
        for child in group.children:
            parents.setdefault(child, []).append(group.name)
    depths: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...]) -> int:
        if name in seen:
            raise error(f"group {name}: children", "the groups' children make a loop")
        if name not in depths:
            above = [depth(p, (*seen, name)) for p in parents.get(name, ()) if p != "all"]
            depths[name] = 0 if name == "all" else 1 + max(above, default=0)
        return depths[name]

    ranks = {}
    for name, group in groups.items():
        priority = group.vars.get("ansible_group_priority", 1)
        ranks[name] = (depth(name, ()), priority if isinstance(priority, int) else 1, name)
    return ranks


def _host_order(groups: Mapping[str, _Group], hostvars: Mapping[str, Any]) -> list[str]:
    """Every host once, in the order ``ansible-inventory`` lists them: from ``all`` down its
    children, then hosts of groups not reached, then hosts only in hostvars."""
    order: dict[str, None] = {}
    visited: set[str] = set()

    def walk(name: str) -> None:
        if name in visited or name not in groups:
            return  # ansible-inventory leaves empty groups out, but names them as children
        visited.add(name)
        order.update(dict.fromkeys(groups[name].hosts))
        for child in groups[name].children:
            walk(child)

    for name in ("all", *groups):
        walk(name)
    order.update(dict.fromkeys(hostvars))
    return list(order)


def _membership(groups: Mapping[str, _Group], names: list[str]) -> dict[str, set[str]]:
    """The groups each host is in, directly or through their children, and ``all`` (the
    children make no loop: ``_ranks`` said so)."""
    parents: dict[str, set[str]] = {}
    for group in groups.values():
        for child in group.children:
            parents.setdefault(child, set()).add(group.name)
    above: dict[str, set[str]] = {}

    def up(name: str) -> set[str]:
        if name not in above:
            above[name] = {name}.union(*(up(p) for p in parents.get(name, ())))
        return above[name]

    member = {name: {"all"} for name in names}
    for group in groups.values():
        for host in group.hosts:
            member[host] |= up(group.name)
    return member


def _host(
    name: str,
    groups: Mapping[str, _Group],
    member: list[str],
    own: Mapping[str, Any],
    exported: bool,
    notes: list[str],
    error: Errors,
) -> InventoryHost:
    """One host: its merged variables, and the host group it joins (None: its own)."""
    from_groups: dict[str, Any] = {}
    for group in member:
        from_groups.update(groups[group].vars)
    merged = {**from_groups, **{k: v for k, v in own.items() if v is not None}}
    roles = tuple(dict.fromkeys(Role(r) for r in merged.get(ROLES_VAR) or ()))
    os = HostOS(merged[OS_VAR]) if merged.get(OS_VAR) is not None else None
    address: str = merged.get("ansible_host") or name
    try:
        # Only hosts that sepcheck audits need a usable address: a bastion whose
        # ansible_host is a template ansible-inventory leaves unrendered is not one.
        if roles:
            parse_host_spec(address)
    except HostSpecError as exc:
        key = f"host {name}: " + ("ansible_host" if "ansible_host" in merged else "name")
        raise error(key, str(exc), exc.hint) from None
    setting = [g for g in member if any(groups[g].vars.get(v) is not None for v in _HOME_VARS)]
    mine = [v for v in _HOME_VARS if own.get(v) is not None]
    home: str | None = None
    if setting:
        # The group whose value Ansible gives it, unless the host sets another itself.
        if all(own[v] == from_groups.get(v) for v in mine):
            home = setting[-1]
        _note_role_conflict(name, groups, member, notes)
    elif roles and not exported:
        # Plain --list: the most specific group it is in (see _overrides_by_majority).
        direct = [g for g in member if name in groups[g].members and g not in _NO_HOME]
        home = direct[-1] if direct else None
    return InventoryHost(name, address, roles, os, home)


def _note_role_conflict(
    name: str, groups: Mapping[str, _Group], member: list[str], notes: list[str]
) -> None:
    """A host in two groups that give different roles gets one group's (Ansible replaces
    lists): say so, since adding a host to a second role's group looks like enough."""
    setting = [g for g in member if groups[g].vars.get(ROLES_VAR) is not None]
    values = {tuple(groups[g].vars[ROLES_VAR]) for g in setting}
    if len(values) > 1:
        notes.append(
            f"host {name} is in groups {', '.join(setting)}, which set different "
            f"{ROLES_VAR}: Ansible gives it those of {setting[-1]} (list every role in "
            "one group's or the host's variables)"
        )


def _overrides_by_majority(hosts: list[InventoryHost]) -> list[InventoryHost]:
    """Without group variables (plain --list), a group's value is the one most of its hosts
    have (the first of equals); a host with another has set its own."""
    values: dict[str, Counter[tuple[object, ...]]] = {}
    for h in hosts:
        if h.home is not None:
            values.setdefault(h.home, Counter())[(h.roles, h.os)] += 1
    common = {home: counter.most_common(1)[0][0] for home, counter in values.items()}
    return [
        h
        if h.home is None or common[h.home] == (h.roles, h.os)
        else InventoryHost(h.name, h.address, h.roles, h.os, None)
        for h in hosts
    ]
