"""What an application check found, in the report's words: a frozen value carried by a
probe's result (``ProbeResult.app``), and its JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sepcheck.net.app.facts import TlsFacts

Scalar = str | int | bool


@dataclass(frozen=True)
class AppFinding:
    check: str
    """The definition's name (probes/app.toml): secars-hello, sql-prelogin, ..."""
    service: str
    """What a healthy answer proves: SEPM, SQL Server, SMB, SSH, ..."""
    ok: bool | None
    """True: the service answered as it should; False: something else holds the port;
    None: the check could not tell (no answer in time, an answer that names nothing)."""
    detail: str
    """In a few words: 'SEPM 14.3.9816.7000 (secars OK)', 'HTTP 404 from nginx/1.22.1'."""
    read: Mapping[str, Scalar] = field(default_factory=dict)
    """What was read, by name: status, server, title, version, api_version, dialect,
    signing_required, sql_version, encryption, banner, failure."""
    tls: TlsFacts | None = None


def tls_record(tls: TlsFacts, now: datetime | None = None) -> dict[str, object]:
    """The JSON object of a server's TLS facts; days to expiry counted from ``now``."""
    moment = now or datetime.now(UTC)
    return {
        "protocol": tls.protocol,
        "cipher": tls.cipher,
        "subject": tls.subject,
        "issuer": tls.issuer,
        "self_signed": tls.self_signed,
        "key_type": tls.key_type,
        "key_bits": tls.key_bits,
        "sha256": tls.sha256,
        "not_before": _timestamp(tls.not_before),
        "not_after": _timestamp(tls.not_after),
        "expires_in_days": round(tls.seconds_left(moment) / 86400, 1),
    }


def app_record(finding: AppFinding) -> dict[str, object]:
    """The JSON object of a finding (the report's ``app``)."""
    return {
        "check": finding.check,
        "service": finding.service,
        "ok": finding.ok,
        "detail": finding.detail,
        "read": dict(finding.read),
        "tls": tls_record(finding.tls) if finding.tls is not None else None,
    }


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
