"""The SEP port catalogue: load, validate and filter the flow entries in catalogue/*.toml.

Each entry is one protocol and port between a source role and a destination role, with
the expectation that it must work (``reachable``) or must not exist (``unreachable``).
The file format is documented in catalogue/README.md. Loading validates everything up
front and names the file, the entry and the field of the first problem.

The package has four parts: ``model`` (one file's pydantic models, Entry among them),
``selection`` (the loaded Catalogue and the questions asked of it), ``load`` (reading and
merging the files) and ``checks`` (what only the whole catalogue can tell). Import from
here.
"""

from __future__ import annotations

from sepcheck.catalogue.load import default_catalogue_path, load_catalogue
from sepcheck.catalogue.model import (
    CATALOGUE_SCHEMA,
    SITE_SETTINGS,
    Entry,
    Feature,
    Group,
    GroupDefault,
    RoleInfo,
    Versions,
)
from sepcheck.catalogue.selection import Catalogue

__all__ = [
    "CATALOGUE_SCHEMA",
    "SITE_SETTINGS",
    "Catalogue",
    "Entry",
    "Feature",
    "Group",
    "GroupDefault",
    "RoleInfo",
    "Versions",
    "default_catalogue_path",
    "load_catalogue",
]
