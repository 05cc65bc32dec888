"""The SSH banner client against servers on loopback: the identification line after
other lines, its parts, foreign and silent servers; the client sends nothing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sepcheck.net.app.facts import READ_LIMIT, AppFailure, FailureKind, SshFacts
from sepcheck.net.app.ssh import ssh_banner
from tests.net.app.servers import Handler, Served, assert_client_gone, closed_port, replying, serve

BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
FACTS = SshFacts(
    banner="SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    protocol="2.0",
    software="OpenSSH_9.2p1 Debian-2+deb12u3",
)


def sending(data: bytes) -> Handler:
    """A server that sends ``data`` first, as an SSH server does, then waits for the
    client to close (it never closes first)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await reader.read(-1)

    return handler


async def banner_from(data: bytes) -> SshFacts:
    async with serve(sending(data)) as served:
        async with asyncio.timeout(5):  # every case here ends on its own, long before
            return await ssh_banner(served.host, served.port)


async def failure_from(data: bytes) -> AppFailure:
    with pytest.raises(AppFailure) as caught:
        await banner_from(data)
    return caught.value


async def test_the_banner_and_its_parts() -> None:
    assert await banner_from(BANNER + b"\x00\x00\x04\x1c\x0a\x14 key exchange follows") == FACTS


async def test_lines_before_the_banner_are_skipped() -> None:
    lines = b"Welcome to sepm01.\r\nAuthorized use only\n" + b"x" * 250 + b"\r\n"
    assert await banner_from(lines + BANNER) == FACTS


@pytest.mark.parametrize(
    ("line", "protocol", "software"),
    [
        (b"SSH-1.99-Cisco-1.25\r\n", "1.99", "Cisco-1.25"),
        (b"SSH-2.0-dropbear_2022.83\n", "2.0", "dropbear_2022.83"),
        (b"SSH-2.0-\r\n", "2.0", ""),
    ],
)
async def test_versions_and_bare_line_feeds(line: bytes, protocol: str, software: str) -> None:
    facts = await banner_from(line)
    assert (facts.protocol, facts.software) == (protocol, software)


async def test_the_client_sends_nothing() -> None:
    received: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        await writer.drain()
        received.append(await reader.read(-1))

    async with serve(recording) as served:
        await ssh_banner(served.host, served.port)
        await served.wait_ended()
    assert received == [b""]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"A" * 300, "answered, but not SSH (a line longer than 255 bytes): first bytes"),
        (b"B" * 254 + b"\r\n", "answered, but not SSH (a line longer than 255 bytes)"),
        (b"SSH-x.y-foo\r\n", "answered, but not SSH (no protocol version after SSH-)"),
        (b"line\r\n" * 2000, f"answered, but not SSH (no SSH- line in {READ_LIMIT} bytes)"),
        # MySQL's greeting: a line feed, then binary with NULs, then it waits for us.
        (b"J\x00\x00\x00\n8.0.36\x00\x08", "answered, but not SSH: first bytes 'J\\x00"),
    ],
    ids=["long-unfinished", "long", "no-version", "endless", "binary-greeting"],
)
async def test_another_protocol_is_not_ssh(data: bytes, detail: str) -> None:
    # Each server here keeps the connection open: the client decides without waiting.
    failure = await failure_from(data)
    assert failure.kind is FailureKind.NOT_PROTOCOL
    assert failure.detail.startswith(detail)


async def test_a_server_that_speaks_another_protocol_and_closes() -> None:
    # (One that keeps the connection open after such lines may still send an SSH- line,
    # as RFC 4253 allows: only the caller's deadline ends that wait.)
    async with serve(replying(b"HTTP/1.1 400 Bad Request\r\n\r\n", read_first=False)) as served:
        with pytest.raises(AppFailure) as caught:
            await ssh_banner(served.host, served.port)
    assert caught.value.kind is FailureKind.NOT_PROTOCOL
    assert caught.value.detail == (
        "answered, but not SSH: first bytes 'HTTP/1.1 400 Bad Request\\r\\n\\r\\n'"
    )


@pytest.mark.parametrize("data", [b"", b"SSH-2.0-OpenSSH_9.2p1"], ids=["nothing", "half-a-line"])
async def test_a_server_that_closes_before_a_whole_banner(data: bytes) -> None:
    async with serve(replying(data, read_first=False)) as served:
        with pytest.raises(AppFailure) as caught:
            await ssh_banner(served.host, served.port)
    assert caught.value.kind is FailureKind.CLOSED


async def test_a_closed_port_is_a_connect_failure() -> None:
    with pytest.raises(AppFailure) as caught:
        await ssh_banner("127.0.0.1", closed_port())
    assert caught.value.kind is FailureKind.CONNECT


async def test_a_server_that_never_speaks_ends_at_the_callers_deadline() -> None:
    async with serve(sending(b"")) as served:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await ssh_banner(served.host, served.port)
        await assert_client_gone(served)


SSHISH = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([b"SSH-", b"SSH-2.0-", b"SSH-1.99-x", b"\r\n", b"\n", b"\xff"]),
        ),
        max_size=15,
    ).map(b"".join),
)


@given(SSHISH)
async def test_any_bytes_from_a_server_give_a_banner_or_an_app_failure(data: bytes) -> None:
    async with serve(replying(data, read_first=False)) as served:
        await _banner_or_failure(served)


async def _banner_or_failure(served: Served) -> None:
    with contextlib.suppress(AppFailure):
        facts = await ssh_banner(served.host, served.port)
        assert facts.banner.startswith("SSH-")
        assert "\n" not in facts.banner
