"""The wire format between `sepcheck check` and `sepcheck listen` (the responder).

Every message is exactly ``SIZE`` bytes, authenticated with the run's token (HMAC-SHA256,
truncated to 16 bytes), so the responder answers only probes of a prober that knows the
token, and its reply is never larger than the request that caused it (no amplification):

    offset  size  field
    0       8     magic  b"SEPCHK1\\0"
    8       1     kind   PROBE_TCP, PROBE_UDP, QUERY (prober) / REPLY, ANSWER (responder)
    9       1     flags  an ANSWER's: SEEN (the responder received the nonce asked about),
                           LISTENING_TCP / LISTENING_UDP (it listens on ``port``),
                           BUSY (it refused messages lately: rate limit, connection cap)
    10      2     port   the port the prober aimed at (big-endian)
    12      16    nonce  random per probe; a reply and an answer carry the probe's
    28      1     family 4 or 6 (0: none)
    29      16    address  a probe: the prober's own source as it sees it; a reply or an
                           answer: the source the responder saw (IPv4 in the first 4 bytes)
    45      2     source port
    47      1     zero
    48      16    mac    HMAC-SHA256(key, bytes 0-47)[:16]

A token is 16 random bytes, written as 32 hex digits; the key is derived from it, so a
report that keeps the key's fingerprint (``fingerprint``) never holds the token.
Only ``net/`` words here: the standard library and nothing of sepcheck outside ``net/``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import struct
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"SEPCHK1\x00"
SIZE = 64
_BODY = struct.Struct("!8sBBH16sB16sHx")
_MAC_SIZE = 16
TOKEN_BYTES = 16


class Kind(IntEnum):
    PROBE_TCP = 1
    PROBE_UDP = 2
    QUERY = 3
    """Over TCP: did the responder receive the UDP probe with this nonce (and does it
    listen on ``port``, TCP when the query's endpoint is None)?"""
    REPLY = 0x81
    ANSWER = 0x83


SEEN = 0x01
"""An ANSWER's flag: the responder received the UDP probe with the query's nonce."""
LISTENING_TCP = 0x02
"""An ANSWER's flag: the responder listens on TCP ``port`` (it was not in use)."""
LISTENING_UDP = 0x04
"""An ANSWER's flag: the responder listens on UDP ``port``."""
BUSY = 0x08
"""An ANSWER's flag: the responder refused messages lately (over its rate limit, or at
its connection cap): a probe it did not answer may have been one of them."""


class TokenError(ValueError):
    """A token that is not 32 hex digits."""


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def parse_token(text: str) -> bytes:
    """The key of a token written as 32 hex digits (spaces and case ignored)."""
    digits = "".join(text.split()).lower()
    if len(digits) != TOKEN_BYTES * 2 or any(c not in "0123456789abcdef" for c in digits):
        raise TokenError("a responder token is 32 hex digits, as `sepcheck listen` prints it")
    # The key is derived, not the token itself: a token typed into a shell history and a
    # key in memory are two different secrets.
    return hashlib.sha256(b"sepcheck responder key\x00" + bytes.fromhex(digits)).digest()


def fingerprint(key: bytes) -> str:
    """Names a run's token in reports without giving it away (8 hex digits)."""
    return hashlib.sha256(b"sepcheck fingerprint\x00" + key).hexdigest()[:8]


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int

    def __str__(self) -> str:
        """198.18.1.2:40112, [fd00:1::2]:40112: how reports and lines write an endpoint
        (the prober's results and the responder's report must write it alike)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Message:
    kind: Kind
    port: int
    nonce: bytes
    endpoint: Endpoint | None
    """A probe: the prober's own source; a reply or answer: what the responder saw."""
    flags: int = 0

    @property
    def seen(self) -> bool:
        return bool(self.flags & SEEN)

    def listening(self, udp: bool) -> bool:
        return bool(self.flags & (LISTENING_UDP if udp else LISTENING_TCP))


def new_nonce() -> bytes:
    return secrets.token_bytes(16)


def _pack_endpoint(endpoint: Endpoint | None) -> tuple[int, bytes, int]:
    if endpoint is None:
        return 0, bytes(16), 0
    address = ipaddress.ip_address(endpoint.address.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv4Address):
        return 4, address.packed + bytes(12), endpoint.port
    mapped = address.ipv4_mapped
    if mapped is not None:  # a dual-stack socket's view of an IPv4 peer
        return 4, mapped.packed + bytes(12), endpoint.port
    return 6, address.packed, endpoint.port


def encode(key: bytes, message: Message) -> bytes:
    family, packed, source_port = _pack_endpoint(message.endpoint)
    body = _BODY.pack(
        MAGIC,
        int(message.kind),
        message.flags,
        message.port,
        message.nonce,
        family,
        packed,
        source_port,
    )
    return body + hmac.new(key, body, hashlib.sha256).digest()[:_MAC_SIZE]


def decode(key: bytes, data: bytes) -> Message | None:
    """The message in ``data``, or None when it is not one made with ``key`` (wrong size,
    magic, kind, family or MAC): such data is ignored, never answered."""
    if len(data) != SIZE or not data.startswith(MAGIC):
        return None
    body, mac = data[:-_MAC_SIZE], data[-_MAC_SIZE:]
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:_MAC_SIZE], mac):
        return None
    _, kind, flags, port, nonce, family, packed, source_port = _BODY.unpack(body)
    try:
        parsed = Kind(kind)
    except ValueError:
        return None
    endpoint: Endpoint | None
    if family == 4:
        endpoint = Endpoint(str(ipaddress.IPv4Address(packed[:4])), source_port)
    elif family == 6:
        endpoint = Endpoint(str(ipaddress.IPv6Address(packed)), source_port)
    elif family == 0:
        endpoint = None
    else:
        return None
    return Message(parsed, port, nonce, endpoint, flags)


def same_endpoint(a: Endpoint, b: Endpoint) -> bool:
    """Equal addresses (IPv4-mapped IPv6 read as IPv4) and ports."""
    return _pack_endpoint(a) == _pack_endpoint(b)
