"""The HTTP client against small servers on loopback: replies parsed by http.client from
at most READ_LIMIT bytes, the exact request sent, foreign and silent servers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sepcheck.net.app.facts import READ_LIMIT, AppFailure, FailureKind, HttpReply
from sepcheck.net.app.http import http_get, parse_reply, request
from tests.net.app.certs import ec_key, issue, name
from tests.net.app.servers import (
    CRLF2,
    Handler,
    Served,
    assert_client_gone,
    closed_port,
    has_ipv6,
    read_request,
    replying,
    reset,
    serve,
)

UA = "sepcheck-test/1.0"


async def get(served: Served, path: str = "/") -> HttpReply:
    async with asyncio.timeout(10):  # a broken client fails here instead of hanging
        reply, tls = await http_get(
            served.host, served.port, path, host_header="sepm01", user_agent=UA
        )
    assert tls is None
    return reply


async def test_a_200_with_a_body() -> None:
    body = b"<html><body>Symantec Endpoint Protection Manager</body></html>"
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Order: 1\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    async with serve(replying(answer)) as served:
        reply = await get(served)
    assert (reply.status, reply.reason, reply.body, reply.truncated) == (200, "OK", body, False)
    assert reply.headers == (
        ("Content-Type", "text/html"),
        ("X-Order", "1"),
        ("Content-Length", str(len(body))),
    )


async def test_a_404_from_nginx_with_a_title() -> None:
    body = b"<html><head><title>404 Not\r\n  Found</title></head></html>"
    answer = b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nConnection: close\r\n\r\n" + body
    async with serve(replying(answer)) as served:
        reply = await get(served)
    assert (reply.status, reply.reason) == (404, "Not Found")
    assert reply.header("server") == "nginx"
    assert reply.title == "404 Not Found"
    assert (reply.body, reply.truncated) == (body, False)


async def test_a_chunked_body_is_decoded() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n"
    )
    async with serve(replying(answer)) as served:
        reply = await get(served)
    assert (reply.body, reply.truncated) == (b"hello, world", False)


def streaming(head: bytes, piece: bytes, sent: list[int]) -> Handler:
    """A handler that sends ``head`` and then ``piece`` again and again (64 MiB at most),
    counting in ``sent`` what the socket took, until the client goes away."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head)
        while sent[0] < 64 << 20:
            writer.write(piece)
            await writer.drain()
            sent[0] += len(piece)

    return handler


@pytest.mark.parametrize("framing", ["close", "length", "chunked"])
async def test_a_body_beyond_the_limit_is_cut_and_reading_stops(framing: str) -> None:
    megabyte = bytes(range(256)) * 4096
    head = {
        "close": b"HTTP/1.1 200 OK\r\n\r\n",
        "length": b"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n",
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    }[framing]
    piece = b"100000\r\n" + megabyte + b"\r\n" if framing == "chunked" else megabyte
    sent = [0]
    async with serve(streaming(head, piece, sent)) as served:
        reply = await get(served)
        await served.wait_ended()
    assert reply.truncated
    skip = len(head) + (8 if framing == "chunked" else 0)
    assert reply.body == megabyte[: READ_LIMIT - skip]
    # The client stopped reading: the server's sends stalled long before 64 MiB.
    assert sent[0] < 32 << 20


async def test_a_server_that_never_answers_ends_at_the_callers_deadline() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # until the client closes its end

    async with serve(silent) as served:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await get(served)
        # The client's socket was closed (the server saw its end) and nothing of the
        # client is left running.
        await assert_client_gone(served)


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n"),
        (b"\x15\x03\x01\x00\x02\x02\x46", "\\x15\\x03\\x01\\x00\\x02\\x02F"),
        (b"220 ftp.example.com ready\r\n", "220 ftp.example.com ready\\r\\n"),
    ],
    ids=["ssh", "tls-alert", "ftp"],
)
async def test_another_protocol_is_not_http(answer: bytes, shown: str) -> None:
    async with serve(replying(answer)) as served:
        with pytest.raises(AppFailure) as caught:
            await get(served)
    assert caught.value.kind is FailureKind.NOT_PROTOCOL
    assert caught.value.detail == f"answered, but not HTTP: first bytes '{shown}'"


async def test_a_server_that_closes_without_answering() -> None:
    async with serve(replying(b"")) as served:
        with pytest.raises(AppFailure) as caught:
            await get(served)
    assert caught.value.kind is FailureKind.CLOSED
    assert caught.value.detail == "the server closed the connection without answering"


def resetting(data: bytes) -> Handler:
    """A handler that reads the request, sends ``data`` and then resets the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if data:
            writer.write(data)
            await writer.drain()
            await asyncio.sleep(0.05)  # the data reaches the client before the RST
        reset(writer)

    return handler


async def test_a_reset_before_an_answer_is_closed() -> None:
    async with serve(resetting(b"")) as served:
        with pytest.raises(AppFailure) as caught:
            await get(served)
    assert caught.value.kind is FailureKind.CLOSED
    assert caught.value.detail == (
        "the server closed the connection before answering: connection reset by peer"
    )


async def test_a_reset_after_part_of_a_reply_keeps_what_came() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"
    async with serve(resetting(answer)) as served:
        reply = await get(served)
    assert (reply.status, reply.body, reply.truncated) == (200, b"abc", True)


async def test_a_closed_port_is_a_connect_failure() -> None:
    with pytest.raises(AppFailure) as caught:
        await http_get("127.0.0.1", closed_port(), "/", host_header="x", user_agent=UA)
    assert caught.value.kind is FailureKind.CONNECT


@pytest.mark.parametrize("given_host", ["::1", "[::1]:{port}"])
async def test_the_exact_request(given_host: str) -> None:
    if not has_ipv6():
        pytest.skip("no IPv6 loopback here")
    received: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        received.append(await reader.read(-1))  # anything after the head, until EOF

    async with serve(recording, "::1") as served:
        host = given_host.format(port=served.port)
        async with asyncio.timeout(10):  # the server closes only after the client did
            reply, _ = await http_get(
                "::1",
                served.port,
                "/secars/secars.dll?hello,secars",
                host_header=host,
                user_agent=UA,
            )
        await served.wait_ended()
    assert reply.status == 204
    bracketed = host if host.startswith("[") else f"[{host}]"
    assert received == [
        b"GET /secars/secars.dll?hello,secars HTTP/1.1\r\n"
        + f"Host: {bracketed}\r\n".encode()
        + b"User-Agent: sepcheck-test/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        b"",  # no body
    ]


@pytest.mark.parametrize(
    ("path", "host", "agent"),
    [
        ("/a b", "sepm01", UA),
        ("relative", "sepm01", UA),
        ("/", "sepm01\r\nX-Evil: 1", UA),
        ("/", "sepm01", "agent\n"),
    ],
)
def test_a_request_that_would_break_its_lines_is_refused(path: str, host: str, agent: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        request(path, host_header=host, user_agent=agent)


async def test_http_over_tls_returns_the_handshakes_facts(tmp_path: Path) -> None:
    issued = issue(name("sepm01"), ec_key(), days=30)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with serve(replying(answer), tls=issued.server_context(tmp_path)) as served:
        reply, tls = await http_get(
            served.host,
            served.port,
            "/",
            host_header="sepm01:8443",
            user_agent=UA,
            tls=True,
            server_name="sepm01",
        )
    assert (reply.status, reply.body) == (200, b"ok")
    assert tls is not None
    assert (tls.subject, tls.key_type) == ("O=Example Corp,CN=sepm01", "EC")


# -- parsing: any bytes give a reply or an AppFailure ------------------------------------


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A chunked reply and the body it encodes."""
    pieces = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=30))
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + encoded + b"0\r\n\r\n", b"".join(pieces)


@given(chunked(), st.data())
def test_a_cut_chunked_body_is_the_start_of_the_body(
    reply_body: tuple[bytes, bytes], data: st.DataObject
) -> None:
    whole, body = reply_body
    cut = data.draw(st.integers(min_value=whole.index(CRLF2) + 4, max_value=len(whole)))
    reply = parse_reply(whole[:cut], more=cut < len(whole))
    assert body.startswith(reply.body)
    if reply.body != body:
        assert reply.truncated
    if cut == len(whole):
        assert not reply.truncated


HTTPISH = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=600).map(lambda b: b"HTTP/1.1 " + b),
    st.lists(
        st.sampled_from(
            [
                b"HTTP/1.1 200 OK\r\n",
                b"HTTP/1.0 100 Continue\r\n\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"Content-Length: 5\r\n",
                b"Content-Length: -1\r\n",
                b"X: y\r\n z\r\n",
                b"\r\n",
                b"\n",
                b"5\r\nhello\r\n",
                b"zz\r\n",
                b"0\r\n",
                b"\x00\xff",
            ]
        ),
        max_size=12,
    ).map(b"".join),
)


@given(HTTPISH, st.booleans())
def test_any_bytes_parse_to_a_reply_or_an_app_failure(data: bytes, more: bool) -> None:
    with contextlib.suppress(AppFailure):
        parse_reply(data, more)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(HTTPISH)
async def test_any_bytes_from_a_server_give_a_reply_or_an_app_failure(data: bytes) -> None:
    async with serve(replying(data)) as served:
        with contextlib.suppress(AppFailure):
            await get(served)
