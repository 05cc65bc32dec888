"""The run's results as typed rows, read from the spool files.

The collector writes each result as one JSON line (``model.result_record``); every renderer
reads them back through ``SpooledRows``, which parses each line into a ``ResultRow`` with
enums instead of strings. Nothing holds the results: each pass over ``SpooledRows`` reads
the spools again, so a run of a million probes renders in flat memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sepcheck.model import Expect, Protocol, Severity
from sepcheck.results import State, Verdict

# Lookups by value, a dict each: this runs once per result and pass, and calling the enum
# (State("open")) costs several times a dict's look-up.
_STATES = {s.value: s for s in State}
_VERDICTS = {v.value: v for v in Verdict}
_PROTOCOLS = {p.value: p for p in Protocol}
_EXPECTS = {e.value: e for e in Expect}
_SEVERITIES = {s.value: s for s in Severity}
# A spool line is one compact object from its first character to its last (see
# spool_lines): raw_decode skips the whitespace handling json.loads wraps around it.
_decode = json.JSONDecoder().raw_decode


@dataclass(frozen=True, slots=True)
class AppRow:
    """A result's application check, as the JSON report's ``app`` holds it."""

    check: str
    service: str
    ok: bool | None
    detail: str
    read: dict[str, str | int | bool]
    tls: dict[str, object] | None

    @classmethod
    def of(cls, app: dict[str, Any] | None) -> AppRow | None:
        if app is None:
            return None
        return cls(app["check"], app["service"], app["ok"], app["detail"], app["read"], app["tls"])

    @property
    def cert_expiry(self) -> float | None:
        """When the server's certificate expires (Unix time), if TLS was read."""
        if self.tls is None:
            return None
        text = str(self.tls["not_after"]).replace("Z", "+00:00")
        return datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One result, as the JSON report's ``results`` holds it (the same fields, in order)."""

    flow: str
    source: str
    destination: str
    host: str
    address: str | None
    protocol: Protocol
    port: int
    expect: Expect
    state: State
    reason: str
    detail: str
    reply_from: str | None
    rtt_ms: float | None
    attempts: int
    verdict: Verdict
    note: str = ""
    reply_ttl: int | None = None
    severity: Severity = Severity.FAIL
    group: str | None = None
    app: AppRow | None = None

    @classmethod
    def from_line(cls, line: str) -> ResultRow:
        """The row of one spool line (written by the collector, so every key is there)."""
        r = _decode(line)[0]
        return cls(
            r["flow"],
            r["source"],
            r["destination"],
            r["host"],
            r["address"],
            _PROTOCOLS[r["protocol"]],
            r["port"],
            _EXPECTS[r["expect"]],
            _STATES[r["state"]],
            r["reason"],
            r["detail"],
            r["reply_from"],
            r["rtt_ms"],
            r["attempts"],
            _VERDICTS[r["verdict"]],
            r["note"],
            r["reply_ttl"],
            _SEVERITIES[r["severity"]],
            r["group"],
            AppRow.of(r["app"]),
        )


def spool_lines(spools: Sequence[Path]) -> Iterator[str]:
    """Every whole result line of the spools. A second Ctrl-C can cut the last line of a
    spool short: it is left out rather than let a report stop being JSON."""
    for spool in spools:
        with spool.open(encoding="utf-8") as lines:
            for line in lines:
                line = line.rstrip("\n")
                if line.startswith("{") and line.endswith("}"):
                    yield line


@dataclass(frozen=True)
class SpooledRows:
    """The rows of a run's spools; iterate as often as needed (each pass reads the files)."""

    spools: tuple[Path, ...]

    @classmethod
    def of(cls, spools: Sequence[Path]) -> SpooledRows:
        return cls(tuple(spools))

    def __iter__(self) -> Iterator[ResultRow]:
        for line in spool_lines(self.spools):
            yield ResultRow.from_line(line)
