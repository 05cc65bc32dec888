"""Where a topology comes from: a TOML file, or the command line's host options.

Both become the same document, checked by ``build_topology``; the digest (of the file's
text, or of the options) lets reports tell topologies apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sepcheck.catalogue import Catalogue
from sepcheck.errors import TopologyError
from sepcheck.hosts import SAFE_BLOCK_LIMIT
from sepcheck.model import Role
from sepcheck.tomlsrc import load_toml
from sepcheck.topology.build import build_topology
from sepcheck.topology.model import Topology


def load_topology(
    path: Path,
    catalogue: Catalogue,
    *,
    allow_large: bool = False,
    block_limit: int = SAFE_BLOCK_LIMIT,
) -> Topology:
    """Read and validate the topology file at ``path``."""
    document, text = load_toml(path, TopologyError, "topology")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return build_topology(
        document,
        catalogue,
        path=path,
        text=text,
        digest=digest,
        allow_large=allow_large,
        block_limit=block_limit,
    )


def topology_from_hosts(
    role_hosts: Mapping[Role, Sequence[str]],
    catalogue: Catalogue,
    *,
    sep_version: str | None = None,
    features: Sequence[str] = (),
    allow_large: bool = False,
    management_server_list: Sequence[str] = (),
) -> Topology:
    """Build a topology from command-line options (``--manager HOST --gup HOST ...``)."""
    document: dict[str, Any] = {
        "roles": {role.value: {"hosts": list(hosts)} for role, hosts in role_hosts.items()},
        "features": list(features),
    }
    if management_server_list:
        document["management_server_list"] = list(management_server_list)
    if sep_version is not None:
        document["sep_version"] = sep_version
    digest = hashlib.sha256(repr(sorted(document.items())).encode()).hexdigest()
    return build_topology(document, catalogue, digest=digest, allow_large=allow_large)
