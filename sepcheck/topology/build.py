"""Building a Topology from a parsed document, checked against the catalogue.

Checks run in a fixed order (shape, version, features, settings, roles, ports, skipped
flows) and the first problem is one TopologyError naming the file, the line and the key,
with a hint: a port override must name a real, configurable entry, a feature must exist
and fit the others, a skipped flow must exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sepcheck.catalogue import SITE_SETTINGS, Catalogue
from sepcheck.errors import VersionError
from sepcheck.hosts import SAFE_BLOCK_LIMIT
from sepcheck.topology.document import ErrorContext, TopologyDoc, parse_document, suggest
from sepcheck.topology.model import Topology
from sepcheck.topology.roles import host_groups
from sepcheck.versions import SepVersion, parse_version


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
    """Validate ``document`` (a parsed topology file, or one made from command-line
    options) against ``catalogue``; ``path`` and ``text`` let errors name the line."""
    ctx = ErrorContext(path, text)
    doc = parse_document(document, path, text)
    auto = doc.sep_version is not None and doc.sep_version.strip().lower() == AUTO
    version = None if auto else _sep_version(ctx, doc.sep_version)
    _check_feature_names(ctx, doc.features, catalogue)
    _check_features(ctx, doc.features, catalogue)
    settings = _check_settings(ctx, doc)
    groups = host_groups(ctx, doc.roles, allow_large, block_limit)
    ports = _check_ports(ctx, doc.ports, catalogue)
    _check_skip(ctx, doc.flows.skip, catalogue)
    return Topology(
        path=path,
        digest=digest,
        name=doc.name,
        sep_version=version,
        version_auto=auto,
        features=frozenset(doc.features),
        groups=groups,
        settings=settings,
        ports=ports,
        skip=frozenset(doc.flows.skip),
    )


AUTO = "auto"
"""sep_version = "auto": read the version from the manager before planning (check)."""


def _sep_version(ctx: ErrorContext, given: str | None) -> SepVersion | None:
    if given is None:
        return None
    try:
        return parse_version(given)
    except VersionError as exc:
        hint = f'{exc.hint}; or "auto" to read it from the manager' if exc.hint else None
        raise ctx.error(exc.message, ("sep_version",), hint) from None


def _check_feature_names(ctx: ErrorContext, features: list[str], catalogue: Catalogue) -> None:
    for feature in features:
        if feature not in catalogue.features:
            hint = suggest(feature, catalogue.features) or "known features: " + ", ".join(
                sorted(catalogue.features)
            )
            raise ctx.error(f"unknown feature {feature!r}", ("features",), hint, feature)


def _check_features(ctx: ErrorContext, features: list[str], catalogue: Catalogue) -> None:
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


def _check_settings(ctx: ErrorContext, doc: TopologyDoc) -> dict[str, tuple[str, ...]]:
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


def _check_ports(
    ctx: ErrorContext, overrides: dict[str, int], catalogue: Catalogue
) -> dict[str, int]:
    for entry_id, port in overrides.items():
        key = ("ports", entry_id)
        entry = catalogue.get(entry_id)
        if entry is None:
            raise ctx.error(
                f"unknown entry id {entry_id!r}",
                key,
                suggest(entry_id, catalogue.by_id) or "see `sepcheck catalogue` for the ids",
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


def _check_skip(ctx: ErrorContext, skip: list[str], catalogue: Catalogue) -> None:
    for index, entry_id in enumerate(skip):
        if catalogue.get(entry_id) is None:
            raise ctx.error(
                f"unknown entry id {entry_id!r} in flows.skip",
                ("flows", "skip", index),
                suggest(entry_id, catalogue.by_id) or "see `sepcheck catalogue` for the ids",
                entry_id,
            )
