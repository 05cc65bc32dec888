"""Why an entry is not planned (or not toward every host): the words plans and reports use.

The values of ``SkipReason`` are public: they appear in ``sepcheck plan`` and in the JSON
report. A ``gap`` is a required (or must-not-reach) flow that has no destination hosts:
the one reason that means something the site needs is left unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only a type here: importing the catalogue would load pydantic with the plan.
    from sepcheck.catalogue import Entry


class SkipReason(StrEnum):
    VERSION = "version"
    SKIPPED = "skipped"
    FEATURE = "feature"
    SETTING = "setting"
    PROXY = "proxy"
    UNUSED = "unused"
    CONTRADICTED = "contradicted"
    IPV4_ONLY = "ipv4-only"
    OS = "os"
    NO_HOSTS = "no-hosts"
    GAP = "gap"


@dataclass(frozen=True)
class Skipped:
    """An entry this vantage would send but does not (or not to every host), and why."""

    entry: Entry
    reason: SkipReason
    detail: str
