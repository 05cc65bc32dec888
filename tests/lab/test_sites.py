"""Realistic SEP sites in the lab: healthy first (exit 0, no FAIL), then one deliberate
breakage that gives exactly the FAIL it should, naming the flow.

The server namespace answers for the whole AnyIP block 198.19.0.0/16 with one listener on
the union of the ports below, so every site gets its own addresses there (a manager at
198.19.10.10, a SQL Server at 198.19.10.20, ...), and the router's nftables rules give
each host the ports it really has: a port a host does not serve is "closed" by a reset
from the router for that address (what connect() sees of a closed port), a firewall's
block is a drop. The vantage runs in the client namespace, as whatever roles the test
says; the manager's own local flows (8447, 8765, 1100, 2638 over loopback) are served by
a listener in the client namespace itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.lab import Lab
from tests.lab.test_classification import BACKENDS, SEPCHECK_CHECK

SERVED_TCP = [22, 139, 443, 445, 1433, 2967, 8014, 8443, 8445, 8446, 8765, 9090]
SERVED_UDP = [137, 138]
LOCAL_TCP = [8447, 8765, 1100, 2638]  # the manager's own loopback flows (client namespace)

# Every host of these sites lives in 198.19.10.0/24. Ports a host does not serve are reset
# by the router; the manager's internal ports are closed toward other hosts.
CLOSED_EVERYWHERE = (
    "    ip daddr 198.19.10.0/24 tcp dport { 8447, 8765, 1100, 2638 } reject with tcp reset\n"
)


def closed(address: str, *ports: int) -> str:
    """Rules that make ``ports`` closed on ``address`` (a reset, as from the host)."""
    listed = ", ".join(str(p) for p in ports)
    return f"    ip daddr {address} tcp dport {{ {listed} }} reject with tcp reset\n"


def blocked(address: str, port: int, protocol: str = "tcp") -> str:
    """A firewall that drops the flow (the breakage)."""
    return f"    ip daddr {address} {protocol} dport {port} drop\n"


@pytest.fixture(scope="module")
def sites(lab: Lab) -> Iterator[Lab]:
    lab.serve(tcp=SERVED_TCP, udp=SERVED_UDP)
    lab.serve(tcp=LOCAL_TCP, udp=[], ns=lab.client)
    yield lab
    lab.firewall("")


def check(
    lab: Lab, tmp_path: Path, topology: str, rules: str, *args: str, backend: str | None = None
) -> tuple[int, dict[str, Any], str]:
    """Apply ``rules`` on the router, run check from the client (``backend``: with that
    SEPCHECK_BACKEND); exit code, report, stderr."""
    lab.firewall(rules + CLOSED_EVERYWHERE)
    site = tmp_path / "site.toml"
    site.write_text(topology)
    chosen = ("env", f"SEPCHECK_BACKEND={backend}") if backend else ()
    done = lab.exec(*chosen, *SEPCHECK_CHECK, "--topology", str(site), "--format", "json", *args)
    assert done.stdout.startswith("{"), done.stderr
    report = json.loads(done.stdout)
    if backend is not None:
        assert report["parameters"]["backend"] == backend
    return done.returncode, report, done.stderr


def verdicts(report: dict[str, Any], verdict: str) -> set[str]:
    return {f["flow"] for f in report["summary"]["flow_results"] if f["verdict"] == verdict}


def flow(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["summary"]["flow_results"] if f["flow"] == name)


MANAGER = "198.19.10.10"
SQL = "198.19.10.20"
GUP = "198.19.10.30"
PARTNER = "198.19.10.40"
CLIENTS = "198.19.10.64/29"  # 6 Windows clients
MAC = "198.19.10.100"

# A manager serves 8014, 443 and its console ports; not SSH, SMB, SQL or the GUP port.
MANAGER_CLOSED = closed(MANAGER, 22, 139, 445, 1433, 2967)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_12_1_site_on_http_only(sites: Lab, tmp_path: Path, backend: str) -> None:
    """12.1 clients talk HTTP 8014 (HTTPS is optional in 12.1): 443 closed is healthy.
    The same verdicts from both connect-mode backends (the portable one of Windows and
    macOS, run here on Linux)."""
    topology = f"""
sep_version = "12.1.6 MP10"
[roles.manager]
hosts = ["{MANAGER}"]
"""
    healthy = MANAGER_CLOSED + closed(MANAGER, 443)
    code, report, err = check(sites, tmp_path, topology, healthy, "--as", "client", backend=backend)
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    assert "client-manager-https" not in {f["flow"] for f in report["summary"]["flow_results"]}
    assert any(
        n["flow"] == "client-manager-https" and n["reason"] == "setting"
        for n in report["summary"]["not_planned"]
    )
    code, report, err = check(
        sites,
        tmp_path,
        topology,
        blocked(MANAGER, 8014) + healthy,
        "--as",
        "client",
        backend=backend,
    )
    assert code == 1, err
    assert verdicts(report, "fail") == {"client-manager-http"}


def test_a_14_3_site_on_https_only(sites: Lab, tmp_path: Path) -> None:
    """A 14.3 site whose management server list names HTTPS: 8014 closed is healthy,
    with or without the setting (without it, 8014 and 443 are alternatives)."""
    healthy = MANAGER_CLOSED + closed(MANAGER, 8014)
    default = f'sep_version = "14.3 RU8"\n[roles.manager]\nhosts = ["{MANAGER}"]\n'
    code, report, err = check(sites, tmp_path, default, healthy, "--as", "client")
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    assert flow(report, "client-manager-http")["states"] == {"refused": 1}
    [group] = report["summary"]["groups"]
    assert (group["group"], group["verdict"]) == ("client-manager", "pass")
    assert "client-manager-https (tcp/443)" in group["note"]
    said = 'management_server_list = ["https"]\n' + default
    code, report, err = check(sites, tmp_path, said, healthy, "--as", "client")
    assert code == 0, err
    code, report, err = check(
        sites, tmp_path, said, blocked(MANAGER, 443) + healthy, "--as", "client"
    )
    assert code == 1, err
    assert verdicts(report, "fail") == {"client-manager-https"}


def test_a_site_without_push_deployment(sites: Lab, tmp_path: Path) -> None:
    """The manager of a site that deploys with SCCM: no push flows at all (the clients'
    SMB and NetBIOS ports are closed), embedded database on the manager, a replication
    partner."""
    topology = f"""
sep_version = "14.3 RU8"
features = ["embedded_database"]
[roles.manager]
hosts = ["{MANAGER}"]
[roles.client]
hosts = ["{CLIENTS}"]
[roles.replication_partner]
hosts = ["{PARTNER}"]
"""
    healthy = closed("198.19.10.64/29", 22, 139, 445) + closed(PARTNER, 22, 139, 445)
    code, report, err = check(sites, tmp_path, topology, healthy, "--as", "manager")
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    planned = {f["flow"] for f in report["summary"]["flow_results"]}
    assert not any("push" in name for name in planned)
    assert flow(report, "manager-manager-embedded-database")["states"] == {"open": 1}
    code, report, err = check(
        sites, tmp_path, topology, blocked(PARTNER, 8443) + healthy, "--as", "manager"
    )
    assert code == 1, err
    assert verdicts(report, "fail") == {"manager-replication_partner-https"}


def test_windows_push_and_a_mac_group(sites: Lab, tmp_path: Path) -> None:
    """Push to 6 Windows clients (445 required, NetBIOS a fallback) and SSH to the one
    Mac only."""
    topology = f"""
sep_version = "14.3 RU8"
features = ["windows_push", "mac_push", "embedded_database"]
[roles.manager]
hosts = ["{MANAGER}"]
[[roles.client]]
hosts = ["{CLIENTS}"]
[[roles.client]]
os = "mac"
hosts = ["{MAC}"]
"""
    code, report, err = check(sites, tmp_path, topology, "", "--as", "manager")
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    ssh = [r for r in report["results"] if r["flow"] == "manager-client-push-mac-ssh"]
    assert [r["address"] for r in ssh] == [MAC]
    assert flow(report, "manager-client-push-smb")["probes"] == 6
    # The NetBIOS session port blocked: a warning (push works over 445), exit 0.
    code, report, err = check(
        sites, tmp_path, topology, blocked("198.19.10.64/29", 139), "--as", "manager"
    )
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    assert verdicts(report, "warn") == {"manager-client-push-netbios-ssn"}
    # SMB blocked: push is broken.
    code, report, err = check(
        sites, tmp_path, topology, blocked("198.19.10.64/29", 445), "--as", "manager"
    )
    assert code == 1, err
    assert verdicts(report, "fail") == {"manager-client-push-smb"}


def test_a_shared_sql_server(sites: Lab, tmp_path: Path) -> None:
    """Clients of a site whose database is a shared SQL Server: 1433 answering them is a
    warning to verify, not a failure; Tomcat's shutdown port answering them is."""
    topology = f"""
sep_version = "14.3 RU8"
features = ["sql_server_database"]
[roles.manager]
hosts = ["{MANAGER}"]
[roles.database]
hosts = ["{SQL}"]
"""
    healthy = MANAGER_CLOSED
    code, report, err = check(sites, tmp_path, topology, healthy, "--as", "client")
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    assert verdicts(report, "warn") >= {"client-database-sqlserver-exposure"}
    exposure = flow(report, "client-database-sqlserver-exposure")
    assert "verify" in exposure["worst"][0]["note"] or exposure["severity"] == "warn"
    # An auditor who wants warnings to fail the run.
    code, _, err = check(
        sites, tmp_path, topology, healthy, "--as", "client", "--fail-on", "warning"
    )
    assert code == 1, err
    assert err.strip().splitlines()[-1].startswith("FAIL (--fail-on warning): ")
    # Tomcat's shutdown port reachable from clients: a real exposure.
    opened = f"    ip daddr {MANAGER} tcp dport 8765 accept\n"
    code, report, err = check(sites, tmp_path, topology, opened + healthy, "--as", "client")
    assert code == 1, err
    assert verdicts(report, "fail") == {"client-manager-tomcat-shutdown-exposure"}


def test_an_admin_workstation_that_is_also_a_client(sites: Lab, tmp_path: Path) -> None:
    """--as client --as remote_console: the console ports are required, not exposures,
    and every (address, port) is probed once."""
    topology = f"""
sep_version = "14.3 RU8"
[roles.manager]
hosts = ["{MANAGER}"]
"""
    args = ("--as", "client", "--as", "remote_console")
    code, report, err = check(sites, tmp_path, topology, MANAGER_CLOSED, *args)
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    assert verdicts(report, "warn") == set()
    flows = {f["flow"] for f in report["summary"]["flow_results"]}
    assert {"remote_console-manager-https", "remote_console-manager-reporting"} <= flows
    assert "client-manager-console-https-exposure" not in flows
    probes = report["summary"]["probes"]
    assert probes == report["summary"]["planned"]
    keys = {(r["address"], r["protocol"], r["port"]) for r in report["results"]}
    assert len(keys) == probes < len(report["results"])  # shared probes, judged per flow
    code, report, err = check(
        sites, tmp_path, topology, blocked(MANAGER, 8443) + MANAGER_CLOSED, *args
    )
    assert code == 1, err
    assert verdicts(report, "fail") == {"remote_console-manager-https"}


def test_a_gup(sites: Lab, tmp_path: Path) -> None:
    """A GUP is a client: it reaches the manager (and the site's other GUPs) like one."""
    topology = f"""
sep_version = "14.3 RU8"
management_server_list = ["https"]
[roles.manager]
hosts = ["{MANAGER}"]
[roles.gup]
hosts = ["{GUP}"]
"""
    healthy = MANAGER_CLOSED + closed(GUP, 22, 139, 445, 1433)
    code, report, err = check(sites, tmp_path, topology, healthy, "--as", "gup")
    assert code == 0, err
    assert verdicts(report, "fail") == set()
    assert report["vantage"]["role"] == ["gup"]
    assert {"client-manager-https", "client-gup-proxy"} <= {
        f["flow"] for f in report["summary"]["flow_results"]
    }
    assert any("implied by gup" in n for n in report["summary"]["plan_notes"])
    code, report, err = check(
        sites, tmp_path, topology, blocked(MANAGER, 443) + healthy, "--as", "gup"
    )
    assert code == 1, err
    assert verdicts(report, "fail") == {"client-manager-https"}


def test_a_small_run_retries_silence_as_if_the_path_lost_packets(
    sites: Lab, tmp_path: Path
) -> None:
    """A handful of probes gives no evidence of loss: a silent port is tried 5 times (a
    port behind a 5%-each-way lossy path is then misread with a chance under 1e-5)."""
    topology = f'sep_version = "14.3 RU8"\n[roles.manager]\nhosts = ["{MANAGER}"]\n'
    code, report, err = check(
        sites, tmp_path, topology, blocked(MANAGER, 9090) + MANAGER_CLOSED, "--as", "client"
    )
    assert code == 0, err
    silent = next(r for r in report["results"] if r["port"] == 9090)
    assert (silent["state"], silent["attempts"]) == ("filtered", 5)
