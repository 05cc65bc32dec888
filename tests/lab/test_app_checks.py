"""Application checks end to end: `sepcheck check` from the client namespace against real
servers (OpenSSH, Samba, OpenSSL's s_server, Python's http.server) and the responders of
tests/responders (SEPM's own answers, SQL Server's PRELOGIN, and nginx on a manager's
port), with nmap beside it where the question is "is it open?".

    server namespace (198.18.2.2 and the AnyIP block 198.19.0.0/16): a healthy SEPM
        14.3.9816.7000 (8014, 443, 8446), Tomcat-like TLS on 8443 (certificate expiring in
        12 days), TLS on 8445 (RSA 4096), the console page on 9090, a GUP's web server on
        2967, sshd on 22, Samba on 445 (signing mandatory), SQL Server on 1433
    router namespace (198.18.1.1): nginx on 8014 and 443 (another product on the
        manager's ports) and a 12.1 manager's REST API on 8446
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import apps
from tests.lab.lab import Lab
from tests.lab.test_classification import SEPCHECK_CHECK

HEALTHY = "198.18.2.2"
ROGUE = "198.18.1.1"
MAC = "198.19.5.5"
SQL = "198.19.5.6"
GUP = "198.19.5.7"
VERSION = "14.3.9816.7000"
OLD_VERSION = "12.1.7454.7000"


@pytest.fixture(scope="module")
def served(lab: Lab) -> Iterator[Lab]:
    reason = apps.missing("sshd", "smbd", "openssl", "ssh-keygen")
    if reason:
        pytest.skip(reason)
    home = apps.folder(lab, "certs")
    cert, key = apps.make_cert(home, "sepm", days=400)
    short, short_key = apps.make_cert(home, "tomcat", key="ec256", days=12)
    big, big_key = apps.make_cert(home, "reporting", key="rsa4096", days=400)
    s = lab.server
    sepm = ("tests.responders.sepm", "--cert", str(cert), "--key", str(key))
    apps.start_responder(
        lab, s, *sepm, "--http", "8014", "--https", "443,8446", "--version", VERSION
    )
    apps.start_tls_server(lab, s, 8443, short, short_key)
    apps.start_tls_server(lab, s, 8445, big, big_key)
    apps.start_http(lab, s, 9090, "Symantec Endpoint Protection Manager")
    apps.start_http(lab, s, 2967, "Index of /")
    apps.start_sshd(lab, s)
    apps.start_smbd(lab, s, signing="mandatory")
    apps.start_responder(lab, s, "tests.responders.tds", "--port", "1433", "--version", "15.0.2000")
    r = lab.router
    apps.start_responder(lab, r, *sepm, "--as", "nginx", "--http", "8014", "--https", "443")
    apps.start_responder(lab, r, *sepm, "--https", "8446", "--version", OLD_VERSION)
    yield lab
    lab.firewall("")


def check(
    lab: Lab, *args: str, topology: str | None = None, tmp: Path | None = None
) -> tuple[int, dict[str, Any], str]:
    extra: tuple[str, ...] = ()
    if topology is not None:
        assert tmp is not None
        site = tmp / "site.toml"
        site.write_text(topology)
        extra = ("--topology", str(site))
    done = lab.exec(*SEPCHECK_CHECK, *extra, *args, "--format", "json")
    assert done.stdout.startswith("{"), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def table(lab: Lab, *args: str) -> str:
    done = lab.exec("env", "COLUMNS=200", *SEPCHECK_CHECK, *args, "--format", "table")
    return done.stdout


def result(report: dict[str, Any], flow: str) -> dict[str, Any]:
    return next(r for r in report["results"] if r["flow"] == flow)


def flow_row(report: dict[str, Any], flow: str) -> dict[str, Any]:
    return next(f for f in report["summary"]["flow_results"] if f["flow"] == flow)


def test_a_healthy_manager_is_confirmed_with_its_version(served: Lab) -> None:
    args = ("--as", "client", "--manager", HEALTHY, "--sep-version", "auto")
    code, report, err = check(served, *args)
    assert code == 0, err
    assert report["detected"] == {
        "version": VERSION,
        "source": f"https://{HEALTHY}:8446/sepm/api/v1/version",
        "api_version": "14.3.7000",
        "host": HEALTHY,
    }
    http = result(report, "client-manager-http")
    assert http["verdict"] == "pass"
    assert http["app"]["ok"] is True
    assert http["app"]["detail"] == f"SEPM {VERSION} (secars OK)"
    https = result(report, "client-manager-https")["app"]
    assert https["check"] == "secars-hello-https"
    assert https["ok"] is True
    tls = https["tls"]
    assert (tls["subject"], tls["self_signed"], tls["key_type"], tls["key_bits"]) == (
        "CN=sepm01.lab.test", True, "RSA", 2048,
    )  # fmt: skip
    assert 398 < tls["expires_in_days"] <= 400
    assert report["parameters"]["app_checks"] is True
    assert f"open, SEPM {VERSION} (secars OK)" in table(served, *args)


def test_443_held_by_another_https_service_is_not_sepm(served: Lab, tmp_path: Path) -> None:
    """What nmap -sT calls open, sepcheck calls a failure: nginx answers, not SEPM."""
    site = f"""
sep_version = "14.3 RU8"
management_server_list = ["https"]
[roles.manager]
hosts = ["{ROGUE}"]
"""
    code, report, err = check(served, "--as", "client", topology=site, tmp=tmp_path)
    assert code == 1, err
    https = result(report, "client-manager-https")
    assert (https["state"], https["verdict"]) == ("open", "fail")
    assert https["note"] == "open but not SEPM: HTTP 404 from nginx/1.22.1"
    assert https["app"]["read"] == {
        "status": 404,
        "server": "nginx/1.22.1",
        "title": "404 Not Found",
    }
    assert flow_row(report, "client-manager-https")["app"] == {"wrong": 1}
    nmap = shutil.which("nmap")
    if nmap is not None:
        scan = served.exec(nmap, "-sT", "-Pn", "-n", "-p", "443", ROGUE).stdout
        assert "443/tcp open" in scan, scan
    # Raw mode: the SYN scan finds the port open, the check runs over a normal connection.
    code, report, err = check(
        served, "--as", "client", "--mode", "raw", topology=site, tmp=tmp_path
    )
    assert code == 1, err
    assert report["parameters"]["mode"] == "raw"
    assert result(report, "client-manager-https")["note"].startswith("open but not SEPM")
    # The same port with the check off: a handshake is all a port scan proves.
    code, report, err = check(served, "--as", "client", "--no-app", topology=site, tmp=tmp_path)
    assert code == 0, err
    assert result(report, "client-manager-https")["app"] is None
    text = table(served, "--as", "client", "--topology", str(tmp_path / "site.toml"))
    assert "open, not SEPM: HTTP 404 from nginx/1.22.1" in text, text


@pytest.mark.parametrize(
    ("manager", "version", "planned", "dropped"),
    [
        (ROGUE, OLD_VERSION, "spc-manager-webservices", "remote_console-manager-webservices"),
        (HEALTHY, VERSION, "remote_console-manager-webservices", "spc-manager-webservices"),
    ],
)
def test_sep_version_auto_plans_the_managers_flows(
    served: Lab, tmp_path: Path, manager: str, version: str, planned: str, dropped: str
) -> None:
    site = f"""
sep_version = "auto"
[roles.manager]
hosts = ["{manager}"]
"""
    _, report, err = check(
        served, "--as", "spc", "--as", "remote_console", topology=site, tmp=tmp_path
    )
    assert report["topology"]["sep_version"] == "auto"
    assert report["detected"]["version"] == version, err
    flows = {f["flow"] for f in report["summary"]["flow_results"]}
    assert planned in flows
    assert dropped not in flows
    skipped = {n["flow"]: n["reason"] for n in report["summary"]["not_planned"]}
    assert skipped[dropped] == "version"
    assert any(version in note for note in report["summary"]["plan_notes"])


def test_no_answer_plans_every_version_and_says_so(served: Lab, tmp_path: Path) -> None:
    served.firewall(f"    ip daddr {HEALTHY} tcp dport 8446 drop")
    try:
        site = f'sep_version = "auto"\n[roles.manager]\nhosts = ["{HEALTHY}"]\n'
        args = ("--as", "spc", "--as", "remote_console", "--timeout", "0.5")
        _, report, err = check(served, *args, topology=site, tmp=tmp_path)
    finally:
        served.firewall("")
    assert report["detected"]["version"] is None
    assert "no answer within 0.5 s" in report["detected"]["source"]
    assert "the flows of every SEP version are planned" in err
    flows = {f["flow"] for f in report["summary"]["flow_results"]}
    # Both lines' flows: 12.1's SPC and 14's REST console.
    assert {"spc-manager-webservices", "remote_console-manager-webservices"} <= flows
    assert all(n["reason"] != "version" for n in report["summary"]["not_planned"])


def test_console_ports_report_their_certificates(served: Lab) -> None:
    code, report, err = check(served, "--as", "remote_console", "--host", f"manager={HEALTHY}")
    console = result(report, "remote_console-manager-https")
    assert console["verdict"] == "warn", err
    assert console["note"] == "TLS certificate expires in 11 days" or console["note"] == (
        "TLS certificate expires in 12 days"
    )
    assert console["app"]["tls"]["key_type"] == "EC"
    assert console["app"]["tls"]["key_bits"] == 256
    reporting = result(report, "remote_console-manager-reporting")["app"]["tls"]
    assert (reporting["key_type"], reporting["key_bits"]) == ("RSA", 4096)
    web = result(report, "remote_console-manager-web-console")["app"]
    assert web["ok"] is True
    assert web["read"]["title"] == "Symantec Endpoint Protection Manager"
    # A shorter warning window: the same certificate passes.
    _, report, _ = check(
        served, "--as", "remote_console", "--host", f"manager={HEALTHY}", "--cert-warn-days", "5"
    )
    assert result(report, "remote_console-manager-https")["verdict"] == "pass"
    assert code == 0, err


def test_push_targets_database_and_gup(served: Lab, tmp_path: Path) -> None:
    site = f"""
sep_version = "14.3 RU8"
features = ["windows_push", "mac_push", "sql_server_database"]
[roles.manager]
hosts = ["{served.client_v4}"]
[[roles.client]]
hosts = ["{HEALTHY}"]
[[roles.client]]
os = "mac"
hosts = ["{MAC}"]
[roles.database]
hosts = ["{SQL}"]
[roles.gup]
hosts = ["{GUP}"]
"""
    _, report, err = check(served, "--as", "manager", topology=site, tmp=tmp_path)
    smb = result(report, "manager-client-push-smb")["app"]
    assert smb["ok"] is True, err
    assert smb["read"]["signing_required"] is True
    assert smb["detail"].startswith("SMB 3.")
    assert smb["detail"].endswith("signing required")
    ssh = result(report, "manager-client-push-mac-ssh")["app"]
    assert ssh["ok"] is True
    assert ssh["detail"].startswith("SSH-2.0-OpenSSH_")
    sql = result(report, "manager-database-sqlserver")["app"]
    assert sql["detail"] == "SQL Server 2019 (15.0.2000), encryption off"
    _, report, err = check(served, "--as", "client", topology=site, tmp=tmp_path)
    gup = result(report, "client-gup-proxy")["app"]
    assert gup["ok"] is True
    assert gup["detail"].startswith("a Group Update Provider (HTTP proxy)")
