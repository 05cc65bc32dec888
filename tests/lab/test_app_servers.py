"""Truth for the application checks: the clients in sepcheck/net/app against REAL servers
(Debian's OpenSSH and Samba, OpenSSL's s_server, Python's http.server) and the lab's
responders, from the client namespace, over IPv4 and IPv6.

The server namespace is the manager's host (SSH, SMB with signing required, TLS on
several ports, the console's HTTP 9090, a SEPM on 8014/443/8446, SQL Server on 1433);
the router namespace plays "another host" (fd00:1::1, 198.18.1.1) where the wrong
servers listen on the same ports: nginx and IIS instead of the manager, Samba with
signing left to the client, something that is not SQL Server on 1433. Each check runs
as a process in the client namespace (tests/lab/app_probe.py) that prints its facts.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.lab import apps
from tests.lab.lab import Lab, run

pytestmark = pytest.mark.lab

MANAGER_VERSION = "14.3.9816.7000"
CONSOLE_TITLE = "Symantec Endpoint Protection Manager"
HTTP_TITLE = "SEPM console (lab)"
ANYIP = "198.19.10.10"  # an AnyIP address of the server namespace (the manager's)
SERVER = ["198.18.2.2", "fd00:2::2"]
OTHER = ["198.18.1.1", "fd00:1::1"]  # the router namespace: another host
# (key, days of validity, port of its s_server)
CERTS: list[tuple[apps.KeyKind, int, int]] = [
    ("rsa2048", 400, 8443),
    ("rsa4096", 12, 8444),
    ("ec256", 400, 8445),
    ("ec256", 12, 8447),
]
KEY_FACTS = {"rsa2048": ("RSA", 2048), "rsa4096": ("RSA", 4096), "ec256": ("EC", 256)}


def probe(lab: Lab, kind: str, address: str, port: int, *args: str) -> dict[str, Any]:
    """Run one check from the client namespace: its facts, or its failure."""
    done = lab.exec(sys.executable, "-m", "tests.lab.app_probe", kind, address, str(port), *args)
    assert done.returncode in (0, 3), f"app_probe exit {done.returncode}:\n{done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def facts(lab: Lab, kind: str, address: str, port: int, *args: str) -> dict[str, Any]:
    answer = probe(lab, kind, address, port, *args)
    assert "facts" in answer, f"{kind} {address} {port}: {answer}"
    result: dict[str, Any] = answer["facts"]
    return result


def needs(*tools: str) -> None:
    reason = apps.missing(*tools)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="module")
def sshd(lab: Lab) -> Lab:
    needs("sshd", "ssh-keygen")
    apps.start_sshd(lab, lab.server)
    return lab


@pytest.fixture(scope="module")
def smbd(lab: Lab) -> Lab:
    needs("smbd")
    apps.start_smbd(lab, lab.server, signing="mandatory")
    apps.start_smbd(lab, lab.router, signing="auto")
    return lab


@pytest.fixture(scope="module")
def tls_servers(lab: Lab, certs: Path) -> dict[int, Path]:
    """One s_server per certificate of CERTS: port -> certificate file."""
    needs("openssl")
    served = {}
    for key, days, port in CERTS:
        cert, private = apps.make_cert(certs, f"{key}-{days}", key=key, days=days)
        apps.start_tls_server(lab, lab.server, port, cert, private)
        served[port] = cert
    return served


@pytest.fixture(scope="module")
def responders(lab: Lab, certs: Path) -> Lab:
    """The SEPM responder on the manager; nginx (8014, 443) and IIS (8446) on the other
    host."""
    needs("openssl")
    cert, key = apps.make_cert(certs, "sepm")
    tls = ("--cert", str(cert), "--key", str(key))
    sepm = ("tests.responders.sepm", *tls)
    manager = ("--http", "8014", "--https", "443,8446", "--version", MANAGER_VERSION)
    apps.start_responder(lab, lab.server, *sepm, *manager)
    nginx = ("--http", "8014", "--https", "443", "--as", "nginx")
    apps.start_responder(lab, lab.router, *sepm, *nginx)
    apps.start_responder(lab, lab.router, *sepm, "--https", "8446", "--as", "iis")
    return lab


@pytest.fixture(scope="module")
def tds(lab: Lab) -> Lab:
    """SQL Server 2019 on the manager's host; MySQL on the other host's 1433."""
    responder = ("tests.responders.tds", "--port", "1433", "--encryption", "off")
    apps.start_responder(lab, lab.server, *responder, "--version", "15.0.2000")
    apps.start_responder(lab, lab.router, *responder, "--wrong")
    return lab


@pytest.fixture(scope="module")
def http_9090(lab: Lab) -> Lab:
    apps.start_http(lab, lab.server, 9090, HTTP_TITLE)
    return lab


def test_a_server_that_cannot_start_says_why(lab: Lab, certs: Path) -> None:
    """The helpers fail at once with the server's own words, not after a timeout."""
    needs("openssl")
    missing = certs / "absent.pem"
    with pytest.raises(RuntimeError, match=r"(?s)s_server exited .*absent\.pem"):
        apps.start_tls_server(lab, lab.client, 8999, missing, missing)
    with pytest.raises(RuntimeError, match=r"(?s)did not start \(exit 2\).*--as"):
        apps.start_responder(lab, lab.client, "tests.responders.sepm", "--as", "apache")


# -- SSH ---------------------------------------------------------------------------------


@pytest.mark.parametrize("address", SERVER)
def test_sshd_banner(sshd: Lab, address: str) -> None:
    found = facts(sshd, "ssh", address, 22)
    assert found["banner"].startswith("SSH-2.0-OpenSSH_"), found
    assert found["protocol"] == "2.0"
    assert found["banner"] == f"SSH-2.0-{found['software']}"


# -- SMB ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "required"),
    [(SERVER[0], True), (SERVER[1], True), (OTHER[0], False), (OTHER[1], False)],
)
def test_smbd_signing(smbd: Lab, address: str, required: bool) -> None:
    """``server signing = mandatory`` on the manager, ``auto`` on the other host; an SMB2
    server always says signing is enabled (MS-SMB2 3.3.5.4). Samba's default ``server
    max protocol`` is SMB3, its newest dialect (3.1.1, since Samba 4.3), and the server
    picks the highest dialect both sides offer: 3.1.1, as a Windows 10 client gets."""
    found = facts(smbd, "smb", address, 445)
    assert found["signing_required"] is required, found
    assert found["signing_enabled"] is True
    assert found["dialect"] == "3.1.1"


# -- SQL Server ---------------------------------------------------------------------------


@pytest.mark.parametrize("address", SERVER)
def test_tds_prelogin(tds: Lab, address: str) -> None:
    found = facts(tds, "tds", address, 1433)
    assert (found["version"], found["encryption"]) == ("15.0.2000", "off"), found


def test_mysql_on_1433_is_not_sql_server(tds: Lab) -> None:
    """MySQL greets first: not TDS, and the detail shows what came."""
    answer = probe(tds, "tds", OTHER[1], 1433)
    assert answer.get("failure") == "not-protocol", answer
    assert "8.0.36" in answer["detail"]  # MySQL's version, in its greeting


@pytest.mark.parametrize(
    ("kind", "failure"),
    [
        ("tls", "not-protocol"),
        ("http", "not-protocol"),
        ("tds", "not-protocol"),
        ("smb", "not-protocol"),
    ],
)
def test_other_checks_on_the_ssh_port(sshd: Lab, kind: str, failure: str) -> None:
    """sshd sends its banner first: every other check sees it and says so."""
    answer = probe(sshd, kind, SERVER[0], 22)
    assert answer.get("failure") == failure, answer
    # OpenSSL names what it read instead of a TLS record; the others quote the banner.
    shown = "answered, but not TLS (wrong version number)" if kind == "tls" else "SSH-2.0"
    assert shown in answer["detail"], answer


# -- TLS ---------------------------------------------------------------------------------


def fingerprint(cert: Path) -> str:
    """What ``openssl x509 -fingerprint -sha256`` says: AB:CD:... -> abcd..."""
    line = run("openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256")
    return line.strip().split("=", 1)[1].replace(":", "").lower()


@pytest.mark.parametrize("address", SERVER)
@pytest.mark.parametrize(("key", "days", "port"), CERTS)
def test_tls_certificate(
    tls_servers: dict[int, Path], lab: Lab, address: str, key: apps.KeyKind, days: int, port: int
) -> None:
    found = facts(lab, "tls", address, port)
    assert (found["key_type"], found["key_bits"]) == KEY_FACTS[key], found
    assert found["self_signed"] is True
    assert found["subject"] == found["issuer"] == "CN=sepm01.lab.test"
    assert found["sha256"] == fingerprint(tls_servers[port])
    # OpenSSL 3 on both ends: TLS 1.3.
    assert found["protocol"] == "TLSv1.3"
    left = datetime.fromisoformat(found["not_after"]) - datetime.now(UTC)
    assert abs(left.total_seconds() / 86400 - days) < 1, found["not_after"]


def test_http_over_tls_from_s_server(tls_servers: dict[int, Path], lab: Lab) -> None:
    """s_server -www answers a GET with its status page: HTTP over a real TLS server,
    with the certificate's facts alongside."""
    found = facts(lab, "http", SERVER[1], 8445, "--tls", "--path", "/")
    assert found["reply"]["status"] == 200, found
    assert found["tls"]["sha256"] == fingerprint(tls_servers[8445])


# -- HTTP --------------------------------------------------------------------------------


def http(lab: Lab, address: str, port: int, path: str, *, tls: bool = False) -> dict[str, Any]:
    found = facts(lab, "http", address, port, "--path", path, *(["--tls"] if tls else []))
    if tls:
        assert found["tls"] is not None, found
    else:
        assert found["tls"] is None, found
    reply: dict[str, Any] = found["reply"]
    return reply


def header(reply: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in reply["headers"] if k.lower() == name.lower()), None)


@pytest.mark.parametrize("address", SERVER)
def test_http_server_on_9090(http_9090: Lab, address: str) -> None:
    reply = http(http_9090, address, 9090, "/")
    handler = SimpleHTTPRequestHandler
    assert reply["status"] == 200, reply
    assert header(reply, "Server") == f"{handler.server_version} {handler.sys_version}"
    assert reply["title"] == HTTP_TITLE


@pytest.mark.parametrize("address", [*SERVER, ANYIP])
@pytest.mark.parametrize(("port", "tls"), [(8014, False), (443, True)])
def test_sepm_secars_hello(responders: Lab, address: str, port: int, tls: bool) -> None:
    reply = http(responders, address, port, "/secars/secars.dll?hello,secars", tls=tls)
    assert (reply["status"], reply["body"]) == (200, "OK"), reply


@pytest.mark.parametrize("address", SERVER)
def test_sepm_version(responders: Lab, address: str) -> None:
    reply = http(responders, address, 8446, "/sepm/api/v1/version", tls=True)
    assert reply["status"] == 200, reply
    assert header(reply, "Content-Type") == "application/json"
    assert json.loads(reply["body"]) == {
        "API_SEQUENCE": "230504014",
        "API_VERSION": "14.3.7000",
        "version": MANAGER_VERSION,
    }


def test_sepm_console_page_and_unknown_paths(responders: Lab) -> None:
    reply = http(responders, SERVER[0], 443, "/", tls=True)
    assert (reply["status"], reply["title"]) == (200, CONSOLE_TITLE), reply
    assert http(responders, SERVER[1], 8014, "/")["status"] == 404
    assert http(responders, SERVER[0], 443, "/secars/secars.dll", tls=True)["status"] == 404


@pytest.mark.parametrize("address", OTHER)
@pytest.mark.parametrize(("port", "tls"), [(8014, False), (443, True)])
def test_nginx_on_the_managers_ports(responders: Lab, address: str, port: int, tls: bool) -> None:
    reply = http(responders, address, port, "/secars/secars.dll?hello,secars", tls=tls)
    assert reply["status"] == 404, reply
    assert header(reply, "Server") == "nginx/1.22.1"
    assert reply["title"] == "404 Not Found"


def test_iis_on_the_api_port(responders: Lab) -> None:
    reply = http(responders, OTHER[1], 8446, "/sepm/api/v1/version", tls=True)
    assert reply["status"] == 404, reply
    assert header(reply, "Server") == "Microsoft-IIS/10.0"


# Held open while the check runs: a server that handshakes in its accept loop hangs on them.
SILENT_CLIENTS = """
import socket, subprocess, sys
silent = [socket.create_connection(("198.18.2.2", port)) for port in (443, 8014)]
for port in (443, 8014, 8446):
    for _ in range(5):
        socket.create_connection(("fd00:2::2", port)).close()
check = ["http", "198.18.2.2", "443", "--tls", "--path", "/secars/secars.dll?hello,secars"]
sys.exit(subprocess.run([sys.executable, "-m", "tests.lab.app_probe", *check]).returncode)
"""


def test_the_responder_outlives_silent_and_closing_clients(responders: Lab) -> None:
    """Clients that connect and close, or connect and say nothing (a TLS port's
    handshake waits for them), do not stop the responder from answering the next one."""
    done = responders.exec(sys.executable, "-c", SILENT_CLIENTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["facts"]["reply"]["body"] == "OK"
