"""The JSON report's models. Field names are a public contract: add, never break.

``schema_version`` changes only on a breaking change. Results are written one by one by
``writer.py`` (never held all at once), using ``ResultItem`` for each.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sepcheck.appcheck.finding import app_record
from sepcheck.results import ProbeResult, State, Verdict

SCHEMA_VERSION = 1

# RFC 3339, as the schema's "date-time" format says and as collect.utc_now() writes:
# readers (the markdown and HTML reports) parse these, so "yesterday" must not load.
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


def _check_timestamp(value: str) -> str:
    try:
        valid = bool(_TIMESTAMP_RE.match(value)) and bool(datetime.fromisoformat(value))
    except ValueError:  # the right shape but no real date or time: month 13, hour 25
        valid = False
    if not valid:
        raise ValueError(f"must be a date and time like 2026-11-29T02:41:57.123Z, not {value!r}")
    return value


Timestamp = Annotated[
    str, AfterValidator(_check_timestamp), Field(json_schema_extra={"format": "date-time"})
]
# Strict: true and 80.0 are no ports, though lax pydantic reads them as 1 and 80.
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
TransportProtocol = Literal["tcp", "udp"]


class _Model(BaseModel):
    # Readers ignore fields they do not know: adding a field is not a breaking change,
    # so a report from a later sepcheck with the same schema_version still loads.
    model_config = ConfigDict(frozen=True, extra="ignore")


class VantageInfo(_Model):
    hostname: str
    role: list[str] = Field(description="Roles this host played in the run.")
    inferred: bool = Field(description="True when the roles were inferred from addresses.")
    local_addresses: list[str]


class TopologyRef(_Model):
    path: str | None = Field(description="Topology file; null when given on the command line.")
    sha256: str
    name: str | None = None
    sep_version: str | None = None


class Parameters(_Model):
    stage: str
    concurrency: int
    per_host: int
    rate: float
    timeout: float
    initial_timeout: float
    min_timeout: float
    retries: int
    max_retries: int
    family: str
    catalogue: str
    mode: str = Field(default="connect", description="Probe mode: connect (no privileges) or raw.")
    backend: str = Field(
        default="linux",
        description="The network backend that ran: linux (epoll, kernel error queue, worker "
        "processes), portable (selectors and plain socket errors: Windows, macOS) or raw (raw "
        "sockets).",
    )
    app_checks: bool = Field(
        default=False, description="Whether open TCP ports got their application check."
    )
    cert_warn_days: float = Field(
        default=30, description="A server certificate expiring within this many days warns."
    )
    responder: str | None = Field(
        default=None,
        description="With --responder-token: the token's fingerprint (as `sepcheck listen` "
        "reports it; never the token).",
    )


class TlsItem(_Model):
    protocol: str = Field(description="Negotiated TLS version: TLSv1.2, TLSv1.3.")
    cipher: str
    subject: str = Field(description="The server certificate's subject (RFC 4514).")
    issuer: str
    self_signed: bool
    key_type: str = Field(description="RSA, EC, Ed25519, ...")
    key_bits: int | None
    sha256: str = Field(description="SHA-256 fingerprint of the certificate (hex).")
    not_before: Timestamp
    not_after: Timestamp
    expires_in_days: float = Field(description="Days to expiry when checked (negative: expired).")


class AppItem(_Model):
    """What the application check read behind an open port."""

    check: str = Field(description="The check's name in probes/app.toml.")
    service: str = Field(description="What a healthy answer proves: SEPM, SQL Server, ...")
    ok: bool | None = Field(
        description="true: the service answered as it should; false: another service holds "
        "the port; null: the check could not tell (a note, never a failure)."
    )
    detail: str
    read: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="What was read: status, server, title, version, api_version, "
        "sql_version, encryption, dialect, signing_required, banner, failure.",
    )
    tls: TlsItem | None = None


class Detected(_Model):
    """The SEP version read from the manager before planning (sep_version = "auto")."""

    version: str | None = Field(
        description="The manager's build, e.g. 14.3.9816.7000; null "
        "when no manager answered (every version's flows planned)."
    )
    source: str = Field(description="Where it came from: the URL read, or why nothing was.")
    api_version: str | None = None
    host: str | None = Field(default=None, description="The manager that answered.")


class ResultItem(_Model):
    # Validated only when a report is read back (diff, merge; the run writes its results
    # with ``result_record``): its schema is built then, not at every start.
    model_config = ConfigDict(defer_build=True)

    flow: str
    source: str
    destination: str
    host: str
    address: str | None
    protocol: TransportProtocol
    port: Port
    expect: str
    state: State
    reason: str
    detail: str
    reply_from: str | None
    # NaN would pass as a float (Python's json reads it) and poison every average.
    rtt_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    attempts: int
    verdict: Verdict
    note: str = ""
    reply_ttl: int | None = Field(
        default=None, description="TTL (IPv6: hop limit) of the reply; raw mode only."
    )
    severity: str = Field(
        default="fail", description="How a violated expectation counts: fail or warn."
    )
    group: str | None = Field(
        default=None,
        description="Group of alternatives the flow belongs to: a host passes when one "
        "member works (see summary.groups).",
    )
    app: AppItem | None = Field(
        default=None, description="The application check after an open port, if any."
    )

    @classmethod
    def of(cls, result: ProbeResult, verdict: Verdict, note: str) -> ResultItem:
        p = result.probe
        return cls(
            flow=p.flow,
            source=p.source.value,
            destination=p.destination.value,
            host=p.host,
            address=result.address,
            protocol=p.protocol.value,
            port=p.port,
            expect=p.expect.value,
            state=result.state,
            reason=result.reason,
            detail=result.detail,
            reply_from=result.reply_from,
            rtt_ms=result.rtt_ms,
            attempts=result.attempts,
            verdict=verdict,
            note=note,
            reply_ttl=result.reply_ttl,
            severity=p.severity.value,
            group=p.group,
            app=AppItem.model_validate(app_record(result.app)) if result.app else None,
        )


def result_record(result: ProbeResult, verdict: Verdict, note: str) -> dict[str, object]:
    """The JSON object of one result, built without validation: this runs once per probe,
    and ``ResultItem.of(...).model_dump(mode="json")`` gives the same (a test holds them
    equal), at a fraction of the cost."""
    p = result.probe
    return {
        "flow": p.flow,
        "source": p.source.value,
        "destination": p.destination.value,
        "host": p.host,
        "address": result.address,
        "protocol": p.protocol.value,
        "port": p.port,
        "expect": p.expect.value,
        "state": result.state.value,
        "reason": result.reason,
        "detail": result.detail,
        "reply_from": result.reply_from,
        "rtt_ms": result.rtt_ms,
        "attempts": result.attempts,
        "verdict": verdict.value,
        "note": note,
        "reply_ttl": result.reply_ttl,
        "severity": p.severity.value,
        "group": p.group,
        "app": app_record(result.app) if result.app is not None else None,
    }


class FailingHost(_Model):
    host: str
    address: str | None
    state: State
    detail: str
    note: str = ""
    app: str = Field(default="", description="What the application check found, in words.")


class FlowResult(_Model):
    flow: str
    purpose: str
    protocol: TransportProtocol
    port: Port
    source: str
    destination: str
    expect: str
    verdict: Verdict
    probes: int
    states: dict[str, int]
    verdicts: dict[str, int]
    worst: list[FailingHost] = Field(
        description="Some results of the flow's worst verdict (failing hosts, capped)."
    )
    worst_more: int = Field(description="How many more results share that verdict.")
    severity: str = Field(default="fail", description="fail, or warn: a failure only warns.")
    group: str | None = Field(default=None, description="Group of alternatives, if any.")
    app: dict[str, int] = Field(
        default_factory=dict,
        description="Application checks by outcome: ok, wrong (another service), unknown.",
    )


class GroupResult(_Model):
    """Flows that are alternatives, judged together: one member working is enough."""

    group: str
    description: str
    flows: list[str] = Field(description="The planned members.")
    verdict: Verdict
    note: str = Field(description="Which member carries the group, or that none works.")


class NotPlanned(_Model):
    flow: str
    reason: str
    detail: str


class Summary(_Model):
    probes: int = Field(description="Probes measured (a probe several flows need counts once).")
    planned: int
    states: dict[str, int] = Field(description="Probes measured, by state.")
    verdicts: dict[str, int] = Field(
        description="Results by verdict: one per flow a probe was judged for."
    )
    flows: dict[str, int] = Field(description="Flows per verdict.")
    duration_s: float
    flow_results: list[FlowResult]
    not_planned: list[NotPlanned]
    gaps: list[str] = Field(description="Required flows with no destination hosts.")
    groups: list[GroupResult] = Field(
        default_factory=list, description="Groups of alternatives and their verdicts."
    )
    plan_notes: list[str] = Field(
        default_factory=list,
        description="What the plan decided for the site: implied roles, defaults of settings.",
    )


class ReportHead(_Model):
    """Everything but ``results``, in the order the file has it."""

    schema_version: int = Field(
        default=SCHEMA_VERSION,
        ge=1,
        le=SCHEMA_VERSION,
        strict=True,
        description="Version of the report's format; it changes on breaking changes only.",
    )
    tool_version: str
    started_at: Timestamp
    finished_at: Timestamp
    complete: bool
    verdict: Verdict
    vantage: VantageInfo
    topology: TopologyRef
    parameters: Parameters
    summary: Summary
    detected: Detected | None = Field(
        default=None,
        description='The SEP version read from the manager (sep_version = "auto"), if asked.',
    )


class Report(ReportHead):
    """A whole report as read back from a file (``diff``, ``merge``)."""

    model_config = ConfigDict(defer_build=True)  # built when a report is read, see ResultItem

    # Required here, unlike in ReportHead (which the writer fills in): a file without it
    # is not a report, and the schema says so.
    schema_version: int = Field(
        ge=1,
        le=SCHEMA_VERSION,
        strict=True,
        description="Version of the report's format; it changes on breaking changes only.",
    )
    results: list[ResultItem]
