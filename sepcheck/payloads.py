"""UDP probe payloads, defined as data in probes/udp.toml.

Each payload is fixed bytes (``hex``) or a text template filled at send time (``text``,
for syslog, which must carry a real timestamp and say where it comes from). One payload
without ports is the generic fallback.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sepcheck import __version__
from sepcheck.data import data_dir
from sepcheck.errors import CatalogueError, Location
from sepcheck.tomlsrc import load_toml
from sepcheck.validation import located_error

_PLACEHOLDERS = {"hostname", "timestamp", "pid", "port", "version"}


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    ports: tuple[int, ...] = ()
    description: str = Field(min_length=1)
    reference: str = ""
    hex: str | None = None
    text: str | None = None

    @field_validator("ports")
    @classmethod
    def _check_ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is out of range 1-65535")
        return value

    @field_validator("hex")
    @classmethod
    def _check_hex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                bytes.fromhex("".join(value.split()))
            except ValueError:
                raise ValueError("hex must be pairs of hex digits (spaces allowed)") from None
        return value

    @field_validator("text")
    @classmethod
    def _check_text(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(**{name: "" for name in _PLACEHOLDERS})
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"text has an unknown or broken placeholder ({exc}); use "
                    + ", ".join("{" + p + "}" for p in sorted(_PLACEHOLDERS))
                ) from None
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Payload:
        if (self.hex is None) == (self.text is None):
            raise ValueError("give exactly one of hex or text")
        return self

    def render(self, port: int, hostname: str | None = None) -> bytes:
        """The datagram to send to ``port``."""
        if self.hex is not None:
            return bytes.fromhex("".join(self.hex.split()))
        assert self.text is not None
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.text.format(
            hostname=hostname or socket.gethostname() or "-",
            timestamp=now,
            pid=os.getpid(),
            port=port,
            version=__version__,
        ).encode("utf-8")


class _PayloadFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: int = Field(alias="schema")
    payload: tuple[Payload, ...]


@dataclass(frozen=True)
class PayloadSet:
    by_port: dict[int, Payload]
    generic: Payload
    _rendered: dict[int, bytes] = field(default_factory=dict, compare=False, repr=False)

    def for_port(self, port: int) -> Payload:
        return self.by_port.get(port, self.generic)

    def datagram(self, port: int) -> bytes:
        """What a UDP try to ``port`` carries. Fixed payloads are rendered once per port;
        templated ones (syslog) carry a fresh timestamp each time."""
        cached = self._rendered.get(port)
        if cached is not None:
            return cached
        payload = self.for_port(port)
        data = payload.render(port)
        if payload.hex is not None:
            self._rendered[port] = data
        return data


def load_payloads(path: Path | None = None) -> PayloadSet:
    file = path if path is not None else data_dir("probes") / "udp.toml"
    document, text = load_toml(file, CatalogueError, "probe payload")
    try:
        parsed = _PayloadFile.model_validate(document)
    except ValidationError as exc:
        raise located_error(exc, CatalogueError, file, text) from None
    by_port: dict[int, Payload] = {}
    generic: Payload | None = None
    for payload in parsed.payload:
        if not payload.ports:
            if generic is not None:
                raise CatalogueError(
                    f"payloads {generic.name!r} and {payload.name!r} both have no ports",
                    location=Location(file),
                    hint="only one payload may be the generic fallback (ports = [])",
                )
            generic = payload
        for port in payload.ports:
            if port in by_port:
                raise CatalogueError(
                    f"port {port} has two payloads: {by_port[port].name!r} and {payload.name!r}",
                    location=Location(file),
                    hint="give each port one payload",
                )
            by_port[port] = payload
    if generic is None:
        raise CatalogueError(
            "no generic payload (one with ports = [])",
            location=Location(file),
            hint="add a [[payload]] with ports = [] as the fallback",
        )
    return PayloadSet(by_port, generic)
