"""Application check definitions, as data in probes/app.toml, validated on load.

A check applies to a catalogue entry by the entry's destination role and its catalogue
port (a port moved by the topology keeps its check: the service is the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sepcheck.data import data_dir
from sepcheck.errors import CatalogueError, Location
from sepcheck.model import Protocol, Role
from sepcheck.tomlsrc import find_line, load_toml
from sepcheck.validation import located_error


class Kind(StrEnum):
    HTTP = "http"
    TLS = "tls"
    TDS = "tds"
    SMB2 = "smb2"
    SSH = "ssh"


class CheckDef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    service: str = Field(min_length=1)
    destinations: tuple[Role, ...] = Field(min_length=1)
    ports: tuple[int, ...] = Field(min_length=1)
    kind: Kind
    description: str = Field(min_length=1)
    reference: str = Field(min_length=1)
    assumed: str = ""
    tls: bool = False
    path: str | None = None
    expect_status: int | None = Field(default=None, ge=100, le=599)
    expect_body: str | None = None
    expect_json: tuple[str, ...] = ()
    version_key: str | None = None
    marks: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _fits_kind(self) -> CheckDef:
        for port in self.ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is out of range 1-65535")
        http_only = {
            "tls": self.tls,
            "path": self.path,
            "expect_status": self.expect_status,
            "expect_body": self.expect_body,
            "expect_json": self.expect_json,
            "version_key": self.version_key,
            "marks": self.marks,
        }
        if self.kind is Kind.HTTP:
            if not self.path or not self.path.startswith("/"):
                raise ValueError("an http check needs a path starting with '/'")
            if any(c.isspace() for c in self.path):
                raise ValueError("path must not contain spaces (write them as %20)")
        else:
            given = [key for key, value in http_only.items() if value]
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply to kind 'http', not {self.kind.value!r}"
                )
        if self.version_key and self.version_key not in self.expect_json:
            raise ValueError("version_key must be one of expect_json")
        return self


class _CheckFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: int = Field(alias="schema", ge=1, le=1)
    check: tuple[CheckDef, ...]


class AppChecks:
    """The checks by (destination role, catalogue port)."""

    def __init__(self, checks: Iterable[CheckDef]) -> None:
        self.checks = tuple(checks)
        self._by_key = {
            (role, port): check
            for check in self.checks
            for role in check.destinations
            for port in check.ports
        }

    def named(self, name: str) -> CheckDef | None:
        return next((check for check in self.checks if check.name == name), None)

    def find(self, destination: Role, protocol: Protocol, port: int) -> CheckDef | None:
        """The check for a TCP flow to ``destination`` on its catalogue ``port``."""
        if protocol is not Protocol.TCP:
            return None
        return self._by_key.get((destination, port))


def load_app_checks(path: Path | None = None) -> AppChecks:
    file = path if path is not None else data_dir("probes") / "app.toml"
    document, text = load_toml(file, CatalogueError, "application check")
    try:
        parsed = _CheckFile.model_validate(document)
    except ValidationError as exc:
        raise located_error(exc, CatalogueError, file, text) from None
    seen: dict[tuple[Role, int], str] = {}
    names: set[str] = set()
    for index, check in enumerate(parsed.check):
        where = Location(file, find_line(text, ("check", index, "name")), f"check[{index}]")
        if check.name in names:
            raise CatalogueError(
                f"two checks are called {check.name!r}",
                location=where,
                hint="give each [[check]] its own name",
            )
        names.add(check.name)
        for role in check.destinations:
            for port in check.ports:
                other = seen.get((role, port))
                if other is not None:
                    raise CatalogueError(
                        f"port {port} to {role.value} has two checks: {other!r} and {check.name!r}",
                        location=where,
                        hint="give each destination and port one check",
                    )
                seen[(role, port)] = check.name
    return AppChecks(parsed.check)
