"""The ``[roles]`` of a topology: each role's host groups, their hosts and hosts files.

Hosts are parsed here (host names are not resolved) and hosts files read once, to count
their targets (all of them, and the IPv6 ones for IPv4-only protocols) and to refuse a bad
line before anything is probed; the plan reads the files again as it walks them. Errors
name the key of the host group (``roles.client[1].hosts[0]``) or the file and its line.
"""

from __future__ import annotations

from pathlib import Path

from sepcheck.errors import Location, TopologyError
from sepcheck.hosts import (
    FileSpec,
    HostFileError,
    HostFileUnreadable,
    HostSpec,
    HostSpecError,
    NameSpec,
    iter_host_file,
    parse_host_spec,
)
from sepcheck.model import ROLE_NAMES, Role
from sepcheck.tomlsrc import KeyPath
from sepcheck.topology.document import ErrorContext, RoleDoc, suggest
from sepcheck.topology.model import HostGroup


def host_groups(
    ctx: ErrorContext,
    roles: dict[str, RoleDoc | list[RoleDoc]],
    allow_large: bool,
    block_limit: int,
) -> dict[Role, tuple[HostGroup, ...]]:
    """Each role's host groups, in file order: ``[roles.ROLE]`` is one group,
    ``[[roles.ROLE]]`` tables are several (e.g. Windows and Mac clients)."""
    groups: dict[Role, tuple[HostGroup, ...]] = {}
    for name, role_docs in roles.items():
        try:
            role = Role(name)
        except ValueError:
            hint = suggest(name, (r.value for r in Role)) or f"roles are: {ROLE_NAMES}"
            raise ctx.error(f"unknown role {name!r}", ("roles", name), hint) from None
        listed = role_docs if isinstance(role_docs, list) else [role_docs]
        if not listed:
            raise ctx.error(
                f"role {name!r} has no host groups",
                ("roles", name),
                f"add a [[roles.{name}]] table with hosts = [...], or remove the key",
            )
        groups[role] = tuple(
            HostGroup(
                _role_hosts(
                    ctx,
                    role,
                    item,
                    allow_large,
                    block_limit,
                    index if isinstance(role_docs, list) else None,
                ),
                item.os,
                item.description,
            )
            for index, item in enumerate(listed)
        )
    return groups


def _role_hosts(
    ctx: ErrorContext,
    role: Role,
    doc: RoleDoc,
    allow_large: bool,
    block_limit: int,
    group: int | None,
) -> tuple[HostSpec, ...]:
    # [[roles.client]] tables are counted in error keys: roles.client[1].hosts[0].
    where: tuple[str | int, ...] = ("roles", role.value)
    if group is not None:
        where = (*where, group)
    specs: list[HostSpec] = []
    for index, text in enumerate(doc.hosts):
        try:
            specs.append(parse_host_spec(text, allow_large=allow_large, limit=block_limit))
        except HostSpecError as exc:
            hint = exc.hint or (
                "a host is a name, an IPv4 or IPv6 address, a CIDR block (198.18.1.0/24) or "
                "a range (198.18.3.5-9)"
            )
            raise ctx.error(str(exc), (*where, "hosts", index), hint, text) from None
    base = ctx.path.parent if ctx.path is not None else Path.cwd()
    for index, name in enumerate(doc.host_files):
        key = (*where, "host_files", index)
        specs.append(_host_file(ctx, role, base, name, key, allow_large, block_limit))
    if not specs:
        raise ctx.error(
            f"role {role.value!r} has no hosts",
            where,
            f"add hosts = [...] to this [roles.{role.value}] table (or [[roles.{role.value}]] "
            "host group), or remove it",
        )
    return tuple(specs)


def _host_file(
    ctx: ErrorContext,
    role: Role,
    base: Path,
    name: str,
    key: KeyPath,
    allow_large: bool,
    block_limit: int,
) -> FileSpec:
    """The hosts file ``name`` (relative to ``base``), read once to count its targets and
    to refuse a bad line now."""
    if "\0" in name:
        # The OS cannot take the name, and Path.resolve() says so with a ValueError.
        raise ctx.error("a hosts file name cannot hold a NUL character", key)
    try:
        file = (base / name).resolve()
    except RuntimeError:  # Python 3.11 says "Symlink loop" so, not with an OSError
        raise ctx.error(
            f"cannot read hosts file {name!r}: its path is a loop of symbolic links",
            key,
            value=name,
        ) from None
    total = v6_total = 0
    try:
        for _, spec in iter_host_file(file, allow_large=allow_large, limit=block_limit):
            total += spec.count
            if ":" in spec.text and not isinstance(spec, NameSpec):
                v6_total += spec.count
    except HostFileError as exc:
        raise TopologyError(
            f"{exc} (in the hosts file of role {role.value})",
            location=Location(file, exc.line),
            hint=exc.hint
            or "one host, address, CIDR block or range per line; '#' starts a comment",
        ) from None
    except HostFileUnreadable as exc:
        raise ctx.error(f"hosts file {str(file)!r} {exc}", key, exc.hint, name) from None
    except FileNotFoundError as exc:
        raise ctx.error(
            f"cannot read hosts file {str(file)!r}: {exc.strerror}",
            key,
            "host_files paths are relative to the topology file's folder",
            name,
        ) from None
    except OSError as exc:
        raise ctx.error(
            f"cannot read hosts file {str(file)!r}: {exc.strerror}", key, value=name
        ) from None
    return FileSpec(name, file, total, allow_large, block_limit, v6_total)
