"""What a check's facts mean: the three outcomes (ok, another service, cannot tell) and
their words, for each kind of healthy answer in probes/app.toml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sepcheck.appcheck.definitions import CheckDef, load_app_checks
from sepcheck.appcheck.interpret import (
    failed,
    host_header,
    judge_http,
    judge_smb,
    judge_tds,
    server_name,
    tls_summary,
)
from sepcheck.model import Protocol, Role
from sepcheck.net.app.facts import (
    AppFailure,
    FailureKind,
    HttpReply,
    SmbFacts,
    TdsFacts,
    TlsFacts,
)

CHECKS = load_app_checks()


def check(role: Role, port: int) -> CheckDef:
    found = CHECKS.find(role, Protocol.TCP, port)
    assert found is not None
    return found


SECARS = check(Role.MANAGER, 8014)
REST = check(Role.MANAGER, 8446)
CONSOLE = check(Role.MANAGER, 9090)
GUP = check(Role.GUP, 2967)


def reply(status: int, body: bytes = b"", server: str | None = None) -> HttpReply:
    headers = (("Server", server),) if server else ()
    return HttpReply(status, "", headers, body, False)


def test_secars_ok_names_the_manager_and_its_version() -> None:
    found = judge_http(SECARS, reply(200, b"OK\r\n"), None, "14.3.9816.7000")
    assert (found.ok, found.detail) == (True, "SEPM 14.3.9816.7000 (secars OK)")
    assert judge_http(SECARS, reply(200, b"OK"), None, None).detail == "SEPM (secars OK)"


def test_another_web_server_is_not_sepm() -> None:
    found = judge_http(SECARS, reply(404, b"<html>", "nginx/1.22.1"), None, None)
    assert (found.ok, found.detail) == (False, "HTTP 404 from nginx/1.22.1")
    assert found.read == {"status": 404, "server": "nginx/1.22.1"}


def test_a_200_with_another_body_is_not_sepm() -> None:
    found = judge_http(SECARS, reply(200, b"<h1>It works!</h1>", "Apache"), None, None)
    assert found.ok is False
    assert "body '<h1>It works!</h1>', not 'OK'" in found.detail


def test_the_rest_api_version_is_read() -> None:
    body = b'{"API_SEQUENCE":"230504014","API_VERSION":"14.3.7000","version":"14.3.9816.7000"}'
    found = judge_http(REST, reply(200, body), None, None)
    assert found.ok is True
    assert found.detail == "SEPM 14.3.9816.7000 (API 14.3.7000)"
    assert found.read["version"] == "14.3.9816.7000"
    assert found.read["api_version"] == "14.3.7000"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>login</html>", "body is not JSON"),
        (b'{"version":"14.3"}', "JSON without API_VERSION, API_SEQUENCE"),
        (b"[1, 2]", "JSON without the keys"),
    ],
)
def test_a_rest_answer_without_the_version_is_not_sepm(body: bytes, words: str) -> None:
    found = judge_http(REST, reply(200, body), None, None)
    assert found.ok is False
    assert words in found.detail


def test_console_page_is_confirmed_by_its_marks_and_otherwise_only_reported() -> None:
    page = b"<title>Symantec Endpoint Protection Manager</title>"
    assert judge_http(CONSOLE, reply(200, page, "Apache"), None, None).ok is True
    assert judge_http(CONSOLE, reply(200, b"", "SEPM"), None, None).ok is True
    other = judge_http(CONSOLE, reply(200, b"<title>Index</title>", "SimpleHTTP/0.6"), None, None)
    assert other.ok is None
    assert other.detail == "HTTP 200 from SimpleHTTP/0.6, title 'Index': nothing in it names SEPM"
    assert other.read["title"] == "Index"


def test_any_http_answer_is_a_gup() -> None:
    found = judge_http(GUP, reply(400, b"", "Apache"), None, None)
    assert found.ok is True
    assert "HTTP 400 from Apache" in found.detail


def test_failures_another_protocol_fails_the_rest_cannot_tell() -> None:
    wrong = failed(SECARS, AppFailure(FailureKind.NOT_PROTOCOL, "answered, but not HTTP"))
    assert wrong.ok is False
    assert wrong.read == {"failure": "not-protocol"}
    for kind in (FailureKind.TIMEOUT, FailureKind.CLOSED, FailureKind.TLS, FailureKind.CONNECT):
        assert failed(SECARS, AppFailure(kind, "x")).ok is None


def test_sql_server_release_and_smb_signing_in_words() -> None:
    sql = judge_tds(check(Role.DATABASE, 1433), TdsFacts("15.0.2000", 5, "off"))
    assert sql.detail == "SQL Server 2019 (15.0.2000), encryption off"
    unknown = judge_tds(check(Role.DATABASE, 1433), TdsFacts("9.0.1399", 0, "on"))
    assert unknown.detail == "SQL Server 9.0.1399, encryption on"
    smb = judge_smb(check(Role.CLIENT, 445), SmbFacts("3.1.1", True, True))
    assert smb.detail == "SMB 3.1.1, signing required"
    assert smb.read["signing_required"] is True


def test_tls_summary() -> None:
    now = datetime.now(UTC)
    tls = TlsFacts(
        "TLSv1.3", "TLS_AES_256_GCM_SHA384", "CN=sepm01", "CN=sepm01", True, "RSA", 2048,
        "ab" * 32, now - timedelta(days=1), now + timedelta(days=12),
    )  # fmt: skip
    assert tls_summary(tls) == "TLSv1.3, CN=sepm01 (self-signed RSA 2048)"


@pytest.mark.parametrize(
    ("host", "address", "port", "tls", "header"),
    [
        ("sepm01.example.test", "198.18.2.2", 8014, False, "sepm01.example.test:8014"),
        ("sepm01.example.test", "198.18.2.2", 443, True, "sepm01.example.test"),
        ("fd00:2::2", "fd00:2::2", 8446, True, "[fd00:2::2]:8446"),
        ("198.18.2.2", "198.18.2.2", 80, False, "198.18.2.2"),
    ],
)
def test_host_header(host: str, address: str, port: int, tls: bool, header: str) -> None:
    assert host_header(host, address, port, tls) == header


def test_sni_only_for_names() -> None:
    assert server_name("sepm01.example.test") == "sepm01.example.test"
    assert server_name("198.18.2.2") is None
    assert server_name("fd00:2::2") is None


@pytest.mark.parametrize(
    "detail",
    ["SMB1 only: the server answered in SMB1", "refused the negotiation: status 0xC00000BB"],
)
def test_an_smb_server_without_smb2_is_not_another_service(detail: str) -> None:
    found = failed(check(Role.CLIENT, 445), AppFailure(FailureKind.NOT_PROTOCOL, detail))
    assert (found.ok, found.detail) == (None, detail)
