"""The connection every stream client (HTTP, TLS, SSH) starts with: a TCP connect, an
optional TLS handshake that verifies nothing, a bounded read and a close that cannot hold
the caller.

The caller imposes the deadline (``asyncio.timeout`` around the client): nothing here
waits on its own, except the short grace given to a closing connection. Errors come out
as ``AppFailure``: the connect's as CONNECT, the handshake's as TLS, a connection closed
or reset before an answer as CLOSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import warnings
from collections.abc import Callable

from sepcheck.net.app.facts import READ_LIMIT, AppFailure, FailureKind, TlsFacts

CLOSE_GRACE = 0.5
"""Seconds a closing connection may take (a TLS close_notify, queued bytes) before it is
aborted: a server that reads nothing must not hold the check."""

SHOWN = 40
"""How many of a foreign answer's first bytes a failure's detail shows by default."""

_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)
"""OpenSSL's SSL_OP_LEGACY_SERVER_CONNECT (1 << 2 in OpenSSL 1.1 and 3.x); the ssl module
names it only from Python 3.12."""


def no_verify_context() -> ssl.SSLContext:
    """A client context that completes a handshake with any server and verifies nothing.

    SEPM's certificates are self-signed by design, so a check that verified would fail
    on every correct install: the certificate is read, not trusted, and judged outside
    ``net/``. An old SEPM may still answer only TLS 1.0, or with a SHA-1 signature, which
    OpenSSL 3's default security level (2) and many distributions' TLS 1.2 floor refuse;
    the check must still read it (that the server is old is a fact worth reporting), so
    the floor is lowered as far as the local OpenSSL allows (security level 0: old
    versions, SHA-1, short keys). Nothing secret crosses this connection (a GET without
    credentials, or nothing at all), so the weaker ciphers protect nothing here.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # OpenSSL 3 no longer sets this by default: without it, a server that does not
    # support RFC 5746's renegotiation indication (older than 2010) fails the handshake
    # ("unsafe legacy renegotiation disabled").
    context.options |= _LEGACY_SERVER_CONNECT
    # Python deprecates TLSv1 and warns on every use; the warning is about security this
    # context does not claim. A build without TLS 1.0 keeps its own floor.
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    # ALL without anonymous suites: a server must still show a certificate to read.
    # @SECLEVEL=0 admits SHA-1 signatures, small keys and TLS 1.0/1.1 in OpenSSL 3; a
    # library that knows no such string (LibreSSL) keeps its own defaults.
    with contextlib.suppress(ssl.SSLError):
        context.set_ciphers("ALL:!aNULL:!eNULL:@SECLEVEL=0")
    return context


def sni_name(server_name: str | None) -> str | None:
    """The name to send in SNI: ``server_name`` when it is a name, None for an address
    literal (RFC 6066 section 3 allows only host names) or nothing."""
    if not server_name:
        return None
    try:
        ipaddress.ip_address(server_name.strip("[]"))
    except ValueError:
        return server_name
    return None


def printable(data: bytes, n: int = SHOWN) -> str:
    """The first ``n`` bytes of ``data`` as text for a failure's detail: printable ASCII as
    is, anything else escaped (\\r, \\n, \\x16), "..." when ``data`` goes on."""
    escaped = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x27: "\\'", 0x5C: "\\\\"}
    text = "".join(
        escaped.get(b, chr(b)) if 0x20 <= b < 0x7F or b in escaped else f"\\x{b:02x}"
        for b in data[:n]
    )
    return text + ("..." if len(data) > n else "")


def foreign(protocol: str, data: bytes) -> AppFailure:
    """The failure for an answer in another protocol than ``protocol``."""
    return AppFailure(
        FailureKind.NOT_PROTOCOL, f"answered, but not {protocol}: first bytes '{printable(data)}'"
    )


def describe(error: BaseException) -> str:
    """An OS or TLS error in a few words: its reason (OpenSSL's, the errno's text), else
    its message, else its type."""
    return _reason(error) or type(error).__name__


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason.lower().replace("_", " ")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


async def open_stream(
    address: str, port: int, *, tls: bool = False, server_name: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, TlsFacts | None]:
    """Connect to ``address``:``port`` and, with ``tls``, complete a handshake (SNI from
    ``server_name`` when it is a name): the streams and the handshake's facts. The caller
    owns the writer from here and closes it with ``close_stream``."""
    try:
        # limit: the stream's buffer pauses the socket once it holds about twice this,
        # so a server that sends megabytes fills nothing but its own send queue.
        reader, writer = await asyncio.open_connection(address, port, limit=READ_LIMIT)
    except OSError as error:
        raise AppFailure(FailureKind.CONNECT, f"connect failed: {describe(error)}") from error
    if not tls:
        return reader, writer, None
    try:
        return reader, writer, await _handshake(writer, server_name)
    except BaseException as error:
        # Nothing to close politely after a failed handshake (or past the deadline).
        writer.transport.abort()
        if isinstance(error, OSError):
            raise lost(
                error, "during the TLS handshake", tls_kind="TLS handshake failed"
            ) from error
        raise


async def _handshake(writer: asyncio.StreamWriter, server_name: str | None) -> TlsFacts:
    # After the connect, not open_connection(ssl=...): a refused connect and a refused
    # handshake are different failures, told apart here.
    await writer.start_tls(no_verify_context(), server_hostname=sni_name(server_name))
    ssl_object = writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        raise AppFailure(FailureKind.TLS, "no TLS session after the handshake")
    # Imported here: cryptography loads only when a check speaks TLS, and tls.py itself
    # connects through this module.
    from sepcheck.net.app.tls import tls_facts

    return tls_facts(ssl_object)


NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "PACKET_LENGTH_TOO_LONG"}
)
"""OpenSSL's reasons for a first answer that is no TLS record at all (its record layer
found no TLS version, or read an HTTP request line): what the server speaks is not TLS."""


def lost(error: OSError, when: str, *, tls_kind: str = "TLS error") -> AppFailure:
    """The failure for ``error`` on an open connection: a TLS alert or protocol error as
    TLS, the server closing or resetting (or any other socket error) as CLOSED."""
    if isinstance(error, ssl.SSLError) and not isinstance(
        error, ssl.SSLEOFError | ssl.SSLZeroReturnError
    ):
        if error.reason in NOT_TLS_REASONS:
            # The server answered, in another protocol than TLS (plain HTTP on 443): not
            # a handshake that failed, a port held by something else.
            return AppFailure(
                FailureKind.NOT_PROTOCOL, f"answered, but not TLS ({describe(error)})"
            )
        return AppFailure(FailureKind.TLS, f"{tls_kind}: {describe(error)}")
    # Both loops report a close during the handshake as a ConnectionResetError without
    # words: then the detail has none either.
    reason = _reason(error)
    said = f": {reason}" if reason else ""
    if isinstance(error, ConnectionError | ssl.SSLError):
        return AppFailure(FailureKind.CLOSED, f"the server closed the connection {when}{said}")
    return AppFailure(FailureKind.CLOSED, f"connection lost {when}{said}")


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write ``data`` and wait until the socket took it; a dropped connection is CLOSED."""
    try:
        writer.write(data)
        await writer.drain()
    except OSError as error:
        raise lost(error, "before the request was sent") from error


async def read_bounded(
    reader: asyncio.StreamReader,
    limit: int = READ_LIMIT,
    done: Callable[[bytes], bool] | None = None,
) -> tuple[bytes, bool]:
    """Read until the end of the stream, ``limit`` bytes, or ``done`` says the data read
    is whole: the data, and whether the stream went on past it (True when ``limit`` bytes
    came before the end was seen). ``done`` lets a client stop at the end of its reply,
    or at the first bytes that cannot start one, instead of waiting for the server to
    close (some keep the connection open whatever the request asked).

    The server closing or resetting after it sent something ends the data like an end of
    stream (some servers end TLS without a close_notify); before anything came it is
    CLOSED (or TLS, for a TLS alert).
    """
    data = bytearray()
    while len(data) < limit:
        try:
            chunk = await reader.read(limit - len(data))
        except OSError as error:
            if data:
                return bytes(data), False
            raise lost(error, "before answering") from error
        if not chunk:
            return bytes(data), False
        data += chunk
        if done is not None and done(bytes(data)):
            return bytes(data), False
    return bytes(data), not reader.at_eof()


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s connection within ``CLOSE_GRACE``, at once when the caller is
    being cancelled (its deadline passed: not a moment more), aborting what lingers."""
    writer.close()
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        writer.transport.abort()
        return
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        # A peer that does not answer the close (TLS close_notify), or an error of the
        # connection's own, already reported or beside the point now.
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
