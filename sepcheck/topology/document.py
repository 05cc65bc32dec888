"""The topology file as written: its pydantic model, and errors located in it.

``parse_document`` checks the shape (known keys, value types) and adds a hint listing the
keys that are allowed where an unknown one was found; ``ErrorContext`` builds the errors
of the later checks with the file, the line and the key path of the problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from sepcheck.errors import Location, TopologyError
from sepcheck.model import HostOS
from sepcheck.tomlsrc import KeyPath, find_line, format_key
from sepcheck.validation import located_error


class RoleDoc(BaseModel):
    """One host group of a role: a ``[roles.ROLE]`` or ``[[roles.ROLE]]`` table."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list)
    host_files: list[str] = Field(default_factory=list)
    description: str = ""
    os: HostOS | None = None


class FlowsDoc(BaseModel):
    """``[flows]``: entry ids the user excludes from every plan."""

    model_config = ConfigDict(extra="forbid")

    skip: list[str] = Field(default_factory=list)


class TopologyDoc(BaseModel):
    """The whole file; the key names are the topology format (README.md)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    sep_version: str | None = None
    management_server_list: list[str] | None = None
    features: list[str] = Field(default_factory=list)
    # [roles.client] is one host group; [[roles.client]] several (e.g. Windows and Mac).
    roles: dict[str, RoleDoc | list[RoleDoc]] = Field(default_factory=dict)
    ports: dict[str, StrictInt] = Field(default_factory=dict)
    flows: FlowsDoc = Field(default_factory=FlowsDoc)


def parse_document(document: dict[str, Any], path: Path | None, text: str) -> TopologyDoc:
    """The document's shape, checked; an unknown key's error lists the known ones."""
    try:
        return TopologyDoc.model_validate(document)
    except ValidationError as exc:
        error = located_error(exc, TopologyError, path, text)
        if error.message.startswith("unknown key") and error.location and error.location.key:
            if "." not in error.location.key:
                error.hint = (
                    "top-level keys are name, sep_version, management_server_list, features, "
                    "[roles.ROLE] (or [[roles.ROLE]] host groups), [ports] "
                    "and [flows]"
                )
            elif error.location.key.startswith("roles."):
                error.hint = "a role table holds hosts, host_files, description and os"
        raise error from None


class ErrorContext:
    """What error messages need: the file, its text, and how to build located errors."""

    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.text = text

    def error(
        self, message: str, key: KeyPath, hint: str | None = None, value: str | None = None
    ) -> TopologyError:
        line = find_line(self.text, key, value) if self.text else None
        return TopologyError(
            message, location=Location(self.path, line, format_key(key)), hint=hint
        )


def suggest(word: str, choices: Iterable[str]) -> str:
    """A "did you mean ...?" hint for the choice closest to ``word``; '' when none is."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""
