"""What an application check read from a server: facts, in the network edge's words.

Each protocol client returns one of these, or raises ``AppFailure`` saying why it could
not read one. They hold no judgement: whether a 404 from nginx means "not SEPM" is
decided by ``sepcheck.appcheck``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

READ_LIMIT = 8192
"""The most any check reads from a server (bytes, after the TLS handshake): enough for a
status line, headers and the start of a page, never a download."""


class FailureKind(StrEnum):
    TIMEOUT = "timeout"
    """No complete answer within the deadline."""
    CLOSED = "closed"
    """The server closed the connection (or reset it) before a complete answer."""
    CONNECT = "connect"
    """The check's own connection could not be made (the port closed since the probe)."""
    TLS = "tls"
    """The TLS handshake failed (no TLS on the port, or no protocol version in common)."""
    NOT_PROTOCOL = "not-protocol"
    """Something answered, but not in the protocol the check speaks."""


class AppFailure(Exception):
    """A check that read no facts: ``kind`` says why, ``detail`` in a few words (with
    the first bytes seen, printable, when something answered in another protocol)."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class HttpReply:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    """Header fields in the order received (names as sent)."""
    body: bytes
    """The start of the body (decoded from chunked encoding), at most what READ_LIMIT left."""
    truncated: bool
    """True when the body went on beyond what was read."""

    def header(self, name: str) -> str | None:
        """The first field called ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def title(self) -> str | None:
        """The page's <title>, whitespace collapsed, or None."""
        match = _TITLE.search(self.body)
        if match is None:
            return None
        text = match.group(1).decode("utf-8", "replace")
        return " ".join(text.split()) or None


@dataclass(frozen=True)
class TlsFacts:
    protocol: str
    """Negotiated version as OpenSSL names it: TLSv1.2, TLSv1.3."""
    cipher: str
    subject: str
    """The leaf certificate's subject, RFC 4514 (CN=sepm01,O=...)."""
    issuer: str
    self_signed: bool
    """Subject equals issuer and the certificate's signature verifies with its own key."""
    key_type: str
    """RSA, EC, Ed25519, Ed448, DSA."""
    key_bits: int | None
    """Key size in bits (curve size for EC); None where it has no size (Ed25519)."""
    sha256: str
    """SHA-256 fingerprint of the DER certificate, lowercase hex without separators."""
    not_before: datetime
    not_after: datetime
    """Validity bounds, timezone-aware (UTC)."""

    def seconds_left(self, now: datetime) -> float:
        """Seconds until expiry from ``now`` (negative once expired)."""
        return (self.not_after - now).total_seconds()


@dataclass(frozen=True)
class TdsFacts:
    version: str
    """SQL Server's version from the PRELOGIN VERSION token: major.minor.build (15.0.2000)."""
    subbuild: int
    encryption: str
    """The server's ENCRYPTION answer: off, on, not-supported, required (MS-TDS 2.2.6.5)."""


@dataclass(frozen=True)
class SmbFacts:
    dialect: str
    """The dialect the server chose: 2.0.2, 2.1, 3.0, 3.0.2, 3.1.1."""
    signing_required: bool
    signing_enabled: bool


@dataclass(frozen=True)
class SshFacts:
    banner: str
    """The server's identification string (SSH-2.0-OpenSSH_9.2p1 Debian-2), without CRLF."""
    protocol: str
    """The protocol version from the banner: 2.0 (or 1.99)."""
    software: str
    """The software version and comments after the protocol version."""
