"""The sepcheck variables of an inventory: their names, their checks, the errors that
name the group or host and the variable, and the site-level values."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sepcheck.errors import Location, SepcheckError
from sepcheck.model import ROLE_NAMES, HostOS, Role

ROLES_VAR = "sepcheck_roles"
OS_VAR = "sepcheck_os"
SITE_VARS = {
    "sepcheck_site_name": "name",
    "sepcheck_sep_version": "sep_version",
    "sepcheck_management_server_list": "management_server_list",
    "sepcheck_features": "features",
}
"""Site-level variables, with the topology key each one sets (in the file's order)."""

HINT = "give the JSON of `ansible-inventory -i INVENTORY --list`"
_LISTS = frozenset({ROLES_VAR, "sepcheck_features", "sepcheck_management_server_list"})
_ROLES = frozenset(r.value for r in Role)
_OSES = frozenset(o.value for o in HostOS)


class InventoryError(SepcheckError):
    """An inventory that cannot give a topology; the key names the group or host."""


@dataclass(frozen=True)
class SiteValue:
    value: str | tuple[str, ...]
    source: str
    """Where it was set: ``group NAME``; with plain --list (no group variables), ``every
    host`` or ``host NAME``."""


@dataclass(frozen=True)
class Errors:
    """Builds the errors of one inventory: its path, and the group or host and key."""

    path: Path | None

    def __call__(self, key: str, message: str, hint: str | None = None) -> InventoryError:
        return InventoryError(message, location=Location(self.path, None, key), hint=hint)


def check_vars(values: Mapping[str, Any], where: str, error: Errors) -> None:
    """The sepcheck variables (and ansible_host) that ``values`` sets, checked."""
    for var, value in values.items():
        if value is None or not (var.startswith("sepcheck_") or var == "ansible_host"):
            continue  # null (`sepcheck_os:` left empty in YAML) is not set; others not ours
        key = f"{where}: {var}"
        if var in _LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise error(key, "must be a list of names", f'e.g. {var}: ["{_example(var)}"]')
            if var == ROLES_VAR:
                for index, role in enumerate(value):
                    if role not in _ROLES:
                        close = difflib.get_close_matches(role, [r.value for r in Role], n=1)
                        hint = f"did you mean {close[0]!r}?" if close else f"roles: {ROLE_NAMES}"
                        raise error(f"{key}[{index}]", f"unknown role {role!r}", hint)
        elif var == OS_VAR and (not isinstance(value, str) or value not in _OSES):
            raise error(key, f"unknown os {value!r}", "use windows, mac or linux")
        elif (var in SITE_VARS or var == "ansible_host") and not isinstance(value, str):
            raise error(key, f"must be a string, not {json.dumps(value)}", "quote it in YAML")


def _example(var: str) -> str:
    return {ROLES_VAR: "client", "sepcheck_features": "windows_push"}.get(var, "https")


def site_values(
    group_vars: Sequence[tuple[str, Mapping[str, Any]]],
    hostvars: Mapping[str, Mapping[str, Any]],
    notes: list[str],
    error: Errors,
) -> dict[str, SiteValue]:
    """The site-level values: from ``group_vars`` (each group's, in merge order) when the
    listing has group variables (--export); else from the hosts, which must agree."""
    exported = any(values for _, values in group_vars)
    site: dict[str, SiteValue] = {}
    for var, key in SITE_VARS.items():
        if exported:
            found = [
                (f"group {g}", values[var])
                for g, values in group_vars
                if values.get(var) is not None
            ]
            ignored = [h for h, values in hostvars.items() if values.get(var) is not None]
            if ignored:
                notes.append(
                    f"{var} of host {', '.join(ignored)} ignored: a site-level variable is "
                    "read from group variables"
                )
        else:
            found = [(f"host {h}", v[var]) for h, v in hostvars.items() if v.get(var) is not None]
            if found and len(found) == len(hostvars):
                found = [("every host", found[0][1])] if len(_distinct(found)) == 1 else found
        distinct = _distinct(found)
        if len(distinct) > 1:
            (one, a), (other, b) = distinct[:2]
            raise error(
                f"{other}: {var}",
                f"{json.dumps(b)} differs from {json.dumps(a)} in {one}",
                "a site-level variable takes one value: set it once, in the variables of group all",
            )
        if found:
            where, value = found[0]
            site[key] = SiteValue(tuple(value) if isinstance(value, list) else value, where)
    return site


def _distinct(found: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The first place of each value in ``found``."""
    first: dict[str, tuple[str, Any]] = {}
    for where, value in found:
        first.setdefault(json.dumps(value, sort_keys=True), (where, value))
    return list(first.values())
