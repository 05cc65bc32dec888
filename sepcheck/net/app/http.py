"""HTTP: one GET, the reply's status, headers and the start of its body.

The request changes nothing on the server (a GET without credentials or cookies, and
``Connection: close``); at most ``READ_LIMIT`` bytes of the reply are read. The reply is
parsed by the standard library's ``http.client`` (over the bytes already read), which
knows the framing: Content-Length, chunked encoding, a body ended by the close.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import re

from sepcheck.net.app.conn import close_stream, foreign, open_stream, read_bounded, send
from sepcheck.net.app.facts import AppFailure, FailureKind, HttpReply, TlsFacts

_TARGET = re.compile(r"[!-~]+")
"""What the request target may hold: visible ASCII, no spaces or control characters
(nothing that could end the request line and start another)."""
_FIELD = re.compile(r"[ -~]+")
"""What a header value may hold: printable ASCII, spaces included, no CR or LF."""
_HEAD_END = re.compile(rb"\n\r?\n")
"""The blank line that ends the header block (http.client also takes bare LF endings)."""
_STATUS_START = b"HTTP/"
"""How a status line begins (http.client refuses any other start)."""
_FOLD = re.compile(r"\r?\n[ \t]+")
"""Obsolete line folding (RFC 7230 section 3.2.4): a continuation line of a header."""


def request(path: str, *, host_header: str, user_agent: str) -> bytes:
    """The request's bytes: the GET line and four header fields, no body. A Host value
    that is a bare IPv6 literal is bracketed (RFC 7230 section 5.4)."""
    if not path.startswith("/") or not _TARGET.fullmatch(path):
        raise ValueError(f"request target must be an absolute path of visible ASCII: {path!r}")
    fields = {"Host": _bracketed(host_header), "User-Agent": user_agent}
    for name, value in fields.items():
        if not _FIELD.fullmatch(value):
            raise ValueError(f"{name} must be printable ASCII on one line: {value!r}")
    lines = [
        f"GET {path} HTTP/1.1",
        *(f"{name}: {value}" for name, value in fields.items()),
        "Accept: */*",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _bracketed(host: str) -> str:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if literal.version == 6 else host


async def http_get(
    address: str,
    port: int,
    path: str,
    *,
    host_header: str,
    user_agent: str,
    tls: bool = False,
    server_name: str | None = None,
) -> tuple[HttpReply, TlsFacts | None]:
    """GET ``path`` from ``address``:``port`` (over TLS with ``tls``, SNI from
    ``server_name``): the reply, and the handshake's facts with ``tls``."""
    data = request(path, host_header=host_header, user_agent=user_agent)
    reader, writer, facts = await open_stream(address, port, tls=tls, server_name=server_name)
    try:
        await send(writer, data)
        answer, more = await read_bounded(reader, done=_whole)
    finally:
        await close_stream(writer)
    return parse_reply(answer, more), facts


class _Received:
    """What http.client.HTTPResponse reads from instead of a socket: the bytes read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def parse_reply(data: bytes, more: bool) -> HttpReply:
    """The reply in ``data`` (``more``: the server had sent more than was read). Raises
    CLOSED for nothing at all, NOT_PROTOCOL for an answer that is not HTTP."""
    if not data:
        raise AppFailure(FailureKind.CLOSED, "the server closed the connection without answering")
    head_cut = more and not _HEAD_END.search(data)
    parsed = data
    if head_cut and b"\n" in data:
        # The limit cut the header block: only its complete lines count (a half line
        # would be a header with half a value).
        parsed = data[: data.rindex(b"\n") + 1]
    try:
        response = _begin(parsed)
    except http.client.RemoteDisconnected as error:
        # Only after an interim 1xx reply: the connection closed before the real one.
        raise AppFailure(
            FailureKind.CLOSED, "the server closed the connection after an interim reply"
        ) from error
    except http.client.HTTPException as error:
        raise foreign("HTTP", data) from error
    body, cut = _body(response)
    headers = tuple((name, _FOLD.sub(" ", value)) for name, value in response.getheaders())
    return HttpReply(
        status=response.status,
        reason=response.reason,
        headers=headers,
        body=body,
        truncated=head_cut or cut or (more and _ends_with_close(response)),
    )


def _whole(data: bytes) -> bool:
    """Whether ``data`` needs no more bytes: a complete reply by its framing (a body
    delimited by the close is never complete before it), or bytes that cannot start one."""
    if not data.startswith(_STATUS_START[: len(data)]):
        return True
    if not _HEAD_END.search(data):
        return False
    try:
        response = _begin(data)
    except http.client.RemoteDisconnected:
        return False  # an interim 1xx reply so far
    except http.client.HTTPException:
        return True
    _, cut = _body(response)
    return not cut and not _ends_with_close(response)


def _begin(data: bytes) -> http.client.HTTPResponse:
    """http.client's reading of the status line and header fields in ``data``."""
    response = http.client.HTTPResponse(_Received(data), method="GET")  # type: ignore[arg-type]
    response.begin()
    return response


def _body(response: http.client.HTTPResponse) -> tuple[bytes, bool]:
    """The body as far as it was read (chunked encoding decoded), and whether its framing
    says it went on (a Content-Length not reached, a chunked body without its last chunk).
    read1 returns pieces in order and keeps what came before a cut, where read() of a
    chunked body raises and misplaces the last piece."""
    pieces: list[bytes] = []
    try:
        while piece := response.read1():
            pieces.append(piece)
    except (http.client.HTTPException, ValueError):
        return b"".join(pieces), True
    short = response.length is not None and response.length > 0
    return b"".join(pieces), short


def _ends_with_close(response: http.client.HTTPResponse) -> bool:
    """Whether the body is delimited by the connection's close (no length, not chunked):
    then reading stopped short only because the limit did."""
    return response.length is None and not response.chunked
