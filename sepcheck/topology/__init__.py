"""The site topology: which hosts play which role, which SEP version, which options.

Loaded from a TOML file (format in README.md, example from ``sepcheck init``) and
validated against the catalogue, so that a port override names a real, configurable entry
and a feature exists. Host lists stay lazy (see sepcheck/hosts); names are not resolved
here.

The package has five parts: ``model`` (the Topology value; no pydantic), ``document``
(the file's pydantic model and located errors), ``roles`` (host groups and hosts files),
``build`` (build_topology: every check against the catalogue) and ``load`` (from a file
or from command-line options). Import from here; importing the package loads pydantic.
"""

from __future__ import annotations

from sepcheck.topology.build import build_topology
from sepcheck.topology.load import load_topology, topology_from_hosts
from sepcheck.topology.model import HostGroup, Topology

__all__ = ["HostGroup", "Topology", "build_topology", "load_topology", "topology_from_hosts"]
