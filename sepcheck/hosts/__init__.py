"""Host specifications from the topology, expanded lazily.

A role's ``hosts`` holds host names, IPv4/IPv6 literals, CIDR blocks and address ranges;
``host_files`` names files with one such spec per line. A spec knows how many targets it
holds without building them, so a /16 of clients costs a few objects until the plan walks
it, and a block larger than the safe limit is refused before anything is probed.

The package has three parts: ``specs`` (the values and their expansion into targets),
``parse`` (one spec as written, with the size limits) and ``files`` (hosts files). Import
from here; none of them imports pydantic.
"""

from __future__ import annotations

from sepcheck.hosts.files import (
    MAX_LINE,
    FileSpec,
    HostFileError,
    HostFileUnreadable,
    iter_host_file,
)
from sepcheck.hosts.parse import (
    HARD_BLOCK_LIMIT,
    SAFE_BLOCK_LIMIT,
    HostSpecError,
    parse_host_spec,
)
from sepcheck.hosts.specs import (
    AddressSpec,
    HostSpec,
    IPAddress,
    IPNetwork,
    NameSpec,
    NetworkSpec,
    RangeSpec,
    Target,
)

__all__ = [
    "HARD_BLOCK_LIMIT",
    "MAX_LINE",
    "SAFE_BLOCK_LIMIT",
    "AddressSpec",
    "FileSpec",
    "HostFileError",
    "HostFileUnreadable",
    "HostSpec",
    "HostSpecError",
    "IPAddress",
    "IPNetwork",
    "NameSpec",
    "NetworkSpec",
    "RangeSpec",
    "Target",
    "iter_host_file",
    "parse_host_spec",
]
