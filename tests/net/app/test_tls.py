"""The TLS client against servers on loopback with certificates made here: the facts of
the handshake and of the certificate, SNI, failed handshakes, and DER that cryptography
cannot read."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import warnings
from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from hypothesis import example, given
from hypothesis import strategies as st

from sepcheck.net.app.conn import CLOSE_GRACE, no_verify_context
from sepcheck.net.app.facts import AppFailure, FailureKind, TlsFacts
from sepcheck.net.app.http import http_get
from sepcheck.net.app.tls import certificate_facts, tls_handshake
from tests.net.app.certs import Issued, ec_key, issue, name, rsa_key
from tests.net.app.servers import assert_client_gone, closed_port, replying, serve

DAY = 86400


@pytest.fixture(scope="module")
def authority() -> Issued:
    return issue(name("Test CA"), rsa_key(), ca=True, days=3650)


@pytest.fixture(scope="module")
def rsa_self_signed() -> Issued:
    """RSA 2048, self-signed, expiring 12 days from now."""
    return issue(name("sepm01"), rsa_key(2048), days=12)


async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(-1)


async def handshake(issued: Issued, folder: Path, **kwargs: ssl.TLSVersion) -> TlsFacts:
    context = issued.server_context(folder)
    with warnings.catch_warnings():  # TLSv1 and TLSv1_1 are deprecated (and wanted here)
        warnings.simplefilter("ignore", DeprecationWarning)
        for attribute, version in kwargs.items():
            setattr(context, attribute, version)
    context.set_ciphers("ALL:@SECLEVEL=0")
    async with serve(idle, tls=context) as served, asyncio.timeout(10):
        return await tls_handshake(served.host, served.port)


async def test_a_self_signed_rsa_certificate(rsa_self_signed: Issued, tmp_path: Path) -> None:
    facts = await handshake(rsa_self_signed, tmp_path)
    cert = rsa_self_signed.cert
    assert facts == TlsFacts(
        protocol="TLSv1.3",
        cipher=facts.cipher,
        subject="O=Example Corp,CN=sepm01",
        issuer="O=Example Corp,CN=sepm01",
        self_signed=True,
        key_type="RSA",
        key_bits=2048,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )
    assert facts.cipher.startswith("TLS_")
    assert facts.not_after.tzinfo == datetime.UTC
    left = facts.seconds_left(datetime.datetime.now(datetime.UTC))
    assert 12 * DAY - 60 < left <= 12 * DAY


async def test_an_ec_certificate_signed_by_a_test_ca(authority: Issued, tmp_path: Path) -> None:
    facts = await handshake(issue(name("sepm02"), ec_key(), issuer=authority), tmp_path)
    assert (facts.subject, facts.issuer) == (
        "O=Example Corp,CN=sepm02",
        "O=Example Corp,CN=Test CA",
    )
    assert (facts.self_signed, facts.key_type, facts.key_bits) == (False, "EC", 256)


async def test_a_certificate_that_names_itself_but_another_key_signed(
    authority: Issued, tmp_path: Path
) -> None:
    subject = name("sepm03")
    impostor = issue(subject, ec_key(), issuer=authority, issuer_name=subject)
    facts = await handshake(impostor, tmp_path)
    assert facts.subject == facts.issuer
    assert not facts.self_signed


async def test_an_ed25519_key_has_no_size(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    facts = await handshake(issue(name("sepm04"), ed25519.Ed25519PrivateKey.generate()), tmp_path)
    assert (facts.key_type, facts.key_bits, facts.self_signed) == ("Ed25519", None, True)


OLD = [
    version
    for version, supported in [
        (ssl.TLSVersion.TLSv1, ssl.HAS_TLSv1),
        (ssl.TLSVersion.TLSv1_1, ssl.HAS_TLSv1_1),
        (ssl.TLSVersion.TLSv1_2, ssl.HAS_TLSv1_2),
    ]
    if supported
]


@pytest.mark.parametrize("version", OLD, ids=[v.name for v in OLD])
async def test_an_old_server_is_still_read(
    version: ssl.TLSVersion, rsa_self_signed: Issued, tmp_path: Path
) -> None:
    facts = await handshake(
        rsa_self_signed, tmp_path, minimum_version=version, maximum_version=version
    )
    assert facts.protocol == version.name.replace("_", ".")
    assert facts.key_bits == 2048


def test_the_context_verifies_nothing_and_admits_old_servers() -> None:
    context = no_verify_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)
    assert context.security_level == 0
    if ssl.HAS_TLSv1:
        assert context.minimum_version == ssl.TLSVersion.TLSv1


@pytest.mark.parametrize(
    ("server_name", "sent"),
    [
        ("sepm01.example.com", "sepm01.example.com"),
        ("127.0.0.1", None),
        ("fd00:2::2", None),
        ("[fd00:2::2]", None),
        (None, None),
    ],
)
async def test_sni_is_a_name_never_an_address(
    server_name: str | None, sent: str | None, rsa_self_signed: Issued, tmp_path: Path
) -> None:
    seen: list[str | None] = []
    context = rsa_self_signed.server_context(tmp_path)

    def record(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen.append(name)

    context.sni_callback = record
    async with serve(idle, tls=context) as served:
        await tls_handshake(served.host, served.port, server_name)
    assert seen == [sent]


async def test_the_handshake_sends_no_application_data(
    rsa_self_signed: Issued, tmp_path: Path
) -> None:
    received: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(-1))

    async with serve(recording, tls=rsa_self_signed.server_context(tmp_path)) as served:
        await tls_handshake(served.host, served.port)
        await served.wait_ended()
    assert received == [b""]


async def test_a_plain_http_server_is_not_tls() -> None:
    """Plain HTTP on a TLS port answered, in another protocol: not a failed handshake."""
    answer = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
    async with serve(replying(answer, read_first=False)) as served:
        with pytest.raises(AppFailure) as caught:
            await tls_handshake(served.host, served.port)
    assert caught.value.kind is FailureKind.NOT_PROTOCOL
    assert caught.value.detail == "answered, but not TLS (wrong version number)"


async def test_a_tls_alert_is_a_failed_handshake() -> None:
    # A fatal handshake_failure alert (RFC 8446 section 6): a TLS server that refused us.
    alert = bytes.fromhex("150301000202" + "28")
    async with serve(replying(alert, read_first=False)) as served:
        with pytest.raises(AppFailure) as caught:
            await tls_handshake(served.host, served.port)
    assert caught.value.kind is FailureKind.TLS
    assert caught.value.detail.startswith("TLS handshake failed: ")


async def test_a_server_that_closes_at_the_client_hello() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)

    async with serve(closing) as served:
        with pytest.raises(AppFailure) as caught:
            await tls_handshake(served.host, served.port)
    assert caught.value.kind is FailureKind.CLOSED
    assert caught.value.detail.startswith(
        "the server closed the connection during the TLS handshake"
    )


async def test_a_closed_port_is_a_connect_failure() -> None:
    with pytest.raises(AppFailure) as caught:
        await tls_handshake("127.0.0.1", closed_port())
    assert caught.value.kind is FailureKind.CONNECT


async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Completes the handshake, then reads nothing more: the client's close_notify (and
    any request) goes unanswered. uvloop's client waits for the answer to its
    close_notify (30 s unless aborted); asyncio's does not."""
    # (uvloop's transports are not asyncio.Transport instances, but have its methods.)
    cast(asyncio.Transport, writer.transport).pause_reading()
    await reader.read(-1)  # ends when the server is closed at the end of the test


async def test_a_peer_that_ignores_the_close_holds_the_client_only_the_grace(
    rsa_self_signed: Issued, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    async with serve(deaf, tls=rsa_self_signed.server_context(tmp_path)) as served:
        start = loop.time()
        async with asyncio.timeout(5):
            await tls_handshake(served.host, served.port)
        assert loop.time() - start < CLOSE_GRACE + 0.5
        await assert_client_gone(served)


async def test_past_the_deadline_the_connection_is_dropped_at_once(
    rsa_self_signed: Issued, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    async with serve(deaf, tls=rsa_self_signed.server_context(tmp_path)) as served:
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await http_get(
                    served.host, served.port, "/", host_header="x", user_agent="y", tls=True
                )
        assert loop.time() - start < 0.3 + CLOSE_GRACE / 2
        await assert_client_gone(served)


async def test_a_handshake_that_never_completes_ends_at_the_callers_deadline() -> None:
    async with serve(idle) as served:  # reads the ClientHello, never answers it
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await tls_handshake(served.host, served.port)
        await assert_client_gone(served)


@given(st.binary(max_size=300))
async def test_any_bytes_from_a_server_fail_the_handshake_as_an_app_failure(data: bytes) -> None:
    async with serve(replying(data, read_first=False)) as served:
        with pytest.raises(AppFailure) as caught:
            await tls_handshake(served.host, served.port)
    assert caught.value.kind in (FailureKind.TLS, FailureKind.CLOSED, FailureKind.NOT_PROTOCOL)


DER = issue(name("fuzz"), ec_key()).cert.public_bytes(serialization.Encoding.DER)


VERSION = 12
"""Where DER holds the certificate's version (after two 4-byte SEQUENCE headers and the
[0] tag, length and INTEGER tag and length): 2 for v3."""


@example(changes=[(VERSION, 1)])  # v2: cryptography raises InvalidVersion, no ValueError
@example(changes=[(15, 0x80)])  # a negative serial: cryptography warns and parses
@given(st.lists(st.tuples(st.integers(0, len(DER) - 1), st.integers(0, 255)), max_size=4))
def test_a_damaged_certificate_gives_facts_or_a_tls_failure(
    changes: list[tuple[int, int]],
) -> None:
    der = bytearray(DER)
    for offset, value in changes:
        der[offset] = value
    with contextlib.suppress(AppFailure):
        certificate_facts(bytes(der), protocol="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256")


def test_the_version_offset_is_the_version() -> None:
    assert DER[VERSION - 4 : VERSION + 1] == bytes([0xA0, 3, 2, 1, 2])


@given(st.binary(max_size=200))
def test_any_der_gives_facts_or_a_tls_failure(der: bytes) -> None:
    with pytest.raises(AppFailure) as caught:
        certificate_facts(der, protocol="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256")
    assert caught.value.kind is FailureKind.TLS
