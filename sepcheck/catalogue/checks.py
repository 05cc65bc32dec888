"""Checks that need the whole catalogue, run once every file is read.

A file alone cannot tell that an id is used twice across files, that two entries expect
opposite things of one flow, or that a feature, group, ``port_from`` or ``via_proxy``
names something that exists and fits. Each problem is one CatalogueError naming the file,
the line of the entry's id and the field.
"""

from __future__ import annotations

import re
from pathlib import Path

from sepcheck.catalogue.model import SITE_SETTINGS, Entry, Feature, Group
from sepcheck.errors import CatalogueError, Location
from sepcheck.model import Protocol, Role
from sepcheck.tomlsrc import find_line

Loaded = list[tuple[Entry, Path, str]]
Origins = dict[tuple[str, str], tuple[Path, str]]
"""(table, name) -> the file that declares it, and its text."""


def _declared(origins: Origins, table: str, name: str, key: str) -> Location:
    """Where [table.name] is declared: its file and line, ``key`` inside it."""
    found = origins.get((table, name))
    if found is None:
        return Location(None, None, key)
    path, text = found
    return Location(path, find_line(text, (table, name)), key)


"""Entries in file order, each with its file and the file's text (to find its line)."""


def check_whole(entries: Loaded, features: dict[str, Feature]) -> None:
    """Ids are unique, features declared, no flow is both required and must-not-reach,
    and ``port_from`` names an entry with the same port that follows no other."""
    seen: dict[str, Path] = {}
    flows: dict[tuple[Role, Role, Protocol, int], Entry] = {}
    for entry, path, text in entries:
        if entry.feature is not None and entry.feature not in features:
            raise CatalogueError(
                f"entry {entry.id!r}: feature {entry.feature!r} is not declared",
                location=Location(path, _entry_line(text, entry.id), "entry.feature"),
                hint=f"declare it in a [features.{entry.feature}] table with a description, "
                f"or use one of: {', '.join(sorted(features)) or '(none declared)'}",
            )
        if entry.id in seen:
            raise CatalogueError(
                f"duplicate entry id {entry.id!r} (first defined in {seen[entry.id]})",
                location=Location(path, _entry_line(text, entry.id), "entry.id"),
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
                location=Location(path, _entry_line(text, entry.id), "entry.expect"),
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


def check_links(
    entries: Loaded,
    features: dict[str, Feature],
    groups: dict[str, Group],
    origins: Origins,
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
                    location=_declared(origins, "features", name, f"features.{name}"),
                    hint="requires and excludes name features declared in [features]",
                )
    for name, group in groups.items():
        allowed = SITE_SETTINGS.get(group.setting or "", ())
        members = [e for e, _, _ in entries if e.group == name]
        if not members:
            raise CatalogueError(
                f"group {name!r} has no member entries",
                location=_declared(origins, "groups", name, f"groups.{name}"),
                hint=f"add group = {name!r} to the entries that are alternatives, or remove it",
            )
        for default in group.defaults:
            for value in default.choose:
                if value not in allowed:
                    raise CatalogueError(
                        f"group {name!r}: default choice {value!r} is not a value of "
                        f"setting {group.setting!r}",
                        location=_declared(origins, "groups", name, f"groups.{name}.defaults"),
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


def _entry_line(text: str, entry_id: str) -> int | None:
    """The line of the entry's id, else of the first entry. Looked up only for an error:
    scanning the text for every entry cost the start of every run some 25 ms."""
    return _line_of_id(text, entry_id) or find_line(text, ("entry",))


def _line_of_id(text: str, entry_id: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"""^\s*id\s*=\s*["']{re.escape(entry_id)}["']""", line):
            return number
    return None
