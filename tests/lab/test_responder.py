"""The responder end to end: `sepcheck listen` in the server namespace, `sepcheck check
--responder-token` from the client, and nftables in the router (or the server) making the
paths that only a responder can tell apart: NAT, a device completing handshakes for the
host (a SYN proxy), a one-way UDP path, UDP blocked on the way; and a flood of traffic
without the token, which must get nothing back.

    server namespace (198.18.2.2, fd00:2::2): sepcheck listen on tcp/8014, tcp/443,
        tcp/8443, udp/514 and udp/138, for the whole module; stopped with SIGINT (Ctrl-C)
        by the last test, which reads its report
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.lab.lab import Lab, run
from tests.lab.responder import Listener, start_listener, udp_delivered, wait_reachable
from tests.lab.test_classification import SEPCHECK_CHECK

pytestmark = pytest.mark.lab

SERVER, SERVER6 = "198.18.2.2", "fd00:2::2"
ROUTER_SERVER_SIDE = "198.18.2.1"
PORTS = "tcp/8014,tcp/443,tcp/8443,udp/514,udp/138"
CLIENT_AND_MANAGER = ("--as", "client", "--as", "manager")
"""The client's flows to the manager (tcp/8014, tcp/443) and the manager's to the syslog
server (udp/514) and to a Windows client (udp/138), all aimed at the server namespace."""
CONSOLE = ("--as", "client", "--as", "remote_console")
"""tcp/8014 (where a query finds the responder) and the console's tcp/8443."""
FAST = ("--timeout", "0.5")
"""The lab's round trip is well under a millisecond; UDP waits three tries of this."""
_MANAGER_ONLY = ("launcher", "tomcat-shutdown", "rmi-registry")
SKIP = [
    *(
        f"{role}-manager-{n}-exposure"
        for role in ("client", "remote_console")
        for n in _MANAGER_ONLY
    ),
    *(f"client-manager-{n}-exposure" for n in ("web-console", "console-https")),
    *(f"manager-manager-{n}" for n in _MANAGER_ONLY),
    *(f"manager-client-push-{n}" for n in ("netbios-ssn", "smb", "netbios-ns")),
    *(f"remote_console-manager-{n}" for n in ("web-console", "reporting", "webservices")),
]
"""Every flow of these roles but the ones on the responder's ports."""


@pytest.fixture(scope="module")
def responder(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    output = tmp_path_factory.mktemp("listen") / "listen.json"
    listener = start_listener(lab, PORTS, output)
    try:
        wait_reachable(lab, [(SERVER, 8014), (SERVER6, 8014)])
        yield listener
    finally:
        # Ctrl-C, so that it writes its report (the lab's teardown would SIGTERM it).
        listener.stop()


def site(tmp: Path, *, v6: bool = True) -> Path:
    hosts = json.dumps([SERVER, SERVER6] if v6 else [SERVER])
    path = tmp / "site.toml"
    path.write_text(
        'sep_version = "14.3 RU8"\n'
        'management_server_list = ["https", "http"]\n'
        'features = ["windows_push"]\n'
        f"[roles.manager]\nhosts = {hosts}\n"
        f"[roles.syslog]\nhosts = {hosts}\n"
        f'[[roles.client]]\nhosts = ["{SERVER}"]\n'
        f"[flows]\nskip = {json.dumps(SKIP)}\n"
    )
    return path


def check(lab: Lab, *args: str, token: str | None) -> tuple[int, dict[str, Any], str]:
    with_token = ("--responder-token", token) if token is not None else ()
    done = lab.exec(*SEPCHECK_CHECK, *FAST, *args, *with_token, "--format", "json")
    assert done.stdout.startswith("{"), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def results(report: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The results by (protocol, address, port)."""
    return {(r["protocol"], r["address"], r["port"]): r for r in report["results"]}


def said(report: dict[str, Any]) -> str:
    """The results in a line each, for an assertion's message."""
    return "".join(
        f"\n{r['protocol']}/{r['port']} {r['address']}: {r['state']} ({r['reason']}) "
        f"{r['verdict']} {r['note']!r} app={r['app']}"
        for r in report["results"]
    )


def endpoint(text: str) -> tuple[str, int]:
    """'198.18.1.2:4000' or '[fd00:1::2]:4000' as (address, port)."""
    address, _, port = text.rpartition(":")
    return str(ipaddress.ip_address(address.strip("[]"))), int(port)


def nft(ns: str, script: str) -> None:
    run("nft", "-f", "-", ns=ns, input=script)


def test_a_healthy_path_is_confirmed_by_the_responder(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    args = ("--topology", str(site(tmp_path)), *CLIENT_AND_MANAGER)
    code, report, err = check(lab, *args, token=responder.token)
    assert code == 0, err + said(report)
    assert report["parameters"]["responder"] == responder.fingerprint
    found = results(report)
    expected = {("tcp", a, p) for a in (SERVER, SERVER6) for p in (8014, 443)}
    expected |= {("udp", SERVER, 514), ("udp", SERVER6, 514), ("udp", SERVER, 138)}
    assert set(found) == expected
    for (protocol, address, _port), result in found.items():
        app = result["app"]
        assert (app["check"], app["ok"], result["verdict"]) == ("sepcheck-responder", True, "pass")
        assert app["detail"] == f"sepcheck responder on {address}"
        assert endpoint(app["read"]["seen_as"]) == endpoint(app["read"]["sent_from"])
        assert "nat" not in app["read"]
        want = ("open", "syn-ack") if protocol == "tcp" else ("open", "responder-reply")
        assert (result["state"], result["reason"]) == want
    # The responder printed each probe as it answered it: protocol, port and source.
    lines = {
        f"{protocol}/{port} from {r['app']['read']['seen_as']} probe answered"
        for (protocol, _, port), r in found.items()
    }
    assert responder.await_lines(lines, timeout=5) == set(), responder.lines
    # Without the token the same UDP ports stay open|filtered: nothing answers them.
    code, bare, err = check(lab, *args, token=None)
    assert code == 0, err
    for key, result in results(bare).items():
        if key[0] == "udp":
            assert (result["state"], result["verdict"]) == ("open|filtered", "warn")
            assert result["app"] is None


def test_snat_on_the_router_is_reported_as_nat(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    nft(
        lab.router,
        "table ip sclab_nat {\n  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ip daddr {SERVER} snat to {ROUTER_SERVER_SIDE}\n  }}\n}}\n",
    )
    try:
        # IPv4 only: one address per flow, so the matrix row is the result's own words.
        args = ("--topology", str(site(tmp_path, v6=False)), *CLIENT_AND_MANAGER)
        code, report, err = check(lab, *args, token=responder.token)
        table = lab.exec(
            "env", "COLUMNS=400", *SEPCHECK_CHECK, *FAST, *args,
            "--responder-token", responder.token, "--format", "table",
        ).stdout  # fmt: skip
    finally:
        run("nft", "delete", "table", "ip", "sclab_nat", ns=lab.router)
    assert code == 0, err  # NAT is said, not judged
    for (protocol, _, port), result in results(report).items():
        read = result["app"]["read"]
        assert read["nat"] == "address", (protocol, port, read)
        assert endpoint(read["seen_as"])[0] == ROUTER_SERVER_SIDE
        assert endpoint(read["sent_from"])[0] == lab.client_v4
    for port in (8014, 443):
        row = next(line for line in table.splitlines() if f"tcp/{port} " in line)
        assert f"NAT: it saw {ROUTER_SERVER_SIDE}:" in row, table


SYNPROXY = f"""
table ip sclab_synproxy {{
  chain raw {{
    type filter hook prerouting priority raw; policy accept;
    ip daddr {SERVER} tcp dport 8443 tcp flags syn notrack
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    ip daddr {SERVER} tcp dport 8443 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
    ip daddr {SERVER} tcp dport 8443 ct state invalid drop
  }}
}}
"""  # noqa: E501 (nft's rule is one line)
SERVER_DROPS_8443 = f"""
table inet sclab_block {{
  chain input {{
    type filter hook input priority filter; policy accept;
    ip saddr {Lab.client_v4} tcp dport 8443 drop
  }}
}}
"""


def test_a_synproxy_answering_for_the_host_is_a_middlebox(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    """The router completes the handshake (nftables synproxy); the server's own firewall
    drops the connection behind it, so the responder never sees it."""
    # synproxy needs the handshake's last ACK marked invalid (no loose pickup), syncookies
    # and timestamps (the wiki's synproxy page); the namespace's own values, put back after.
    sysctls = {
        "net.netfilter.nf_conntrack_tcp_loose": "0",
        "net.ipv4.tcp_syncookies": "1",
        "net.ipv4.tcp_timestamps": "1",
    }
    nft(lab.router, SYNPROXY)  # first: its ct expressions load conntrack's sysctls
    saved = {k: run("sysctl", "-n", k, ns=lab.router).strip() for k in sysctls}
    try:
        for key, value in sysctls.items():
            run("sysctl", "-qw", f"{key}={value}", ns=lab.router)
        nft(lab.server, SERVER_DROPS_8443)
        args = ("--topology", str(site(tmp_path, v6=False)), *CONSOLE)
        _, bare, bare_err = check(lab, *args, token=None)
        nmap = shutil.which("nmap")
        scan = lab.exec(nmap, "-n", "-Pn", "-sT", "-p", "8443", SERVER).stdout if nmap else ""
        code, report, err = check(lab, *args, token=responder.token)
    finally:
        run("nft", "delete", "table", "inet", "sclab_block", ns=lab.server, check=False)
        run("nft", "delete", "table", "ip", "sclab_synproxy", ns=lab.router)
        for key, value in saved.items():
            run("sysctl", "-qw", f"{key}={value}", ns=lab.router)
    # A bare connect calls it open: the router's SYN-ACK is all it sees.
    assert results(bare)[("tcp", SERVER, 8443)]["state"] == "open", bare_err + said(bare)
    assert not nmap or "8443/tcp open" in scan, scan
    result = results(report)[("tcp", SERVER, 8443)]
    assert result["state"] == "open"
    assert results(report)[("tcp", SERVER, 8014)]["app"]["ok"] is True, err
    assert (result["verdict"], code) == ("fail", 1), result
    assert result["app"]["read"]["listening"] is True
    assert result["note"].startswith("a device on the path completed the handshake"), result


def test_a_device_completing_handshakes_for_the_host_fails_the_flow(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    """The same reading without synproxy: the router redirects tcp/8443 to a listener of
    its own that accepts and closes (a firewall's or a proxy's own answer)."""
    lab.serve(tcp=[18443], udp=[], ns=lab.router)
    nft(
        lab.router,
        "table ip sclab_redirect {\n  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f"    ip daddr {SERVER} tcp dport 8443 redirect to :18443\n  }}\n}}\n",
    )
    try:
        args = ("--topology", str(site(tmp_path, v6=False)), *CONSOLE)
        code, report, err = check(lab, *args, token=responder.token)
    finally:
        run("nft", "delete", "table", "ip", "sclab_redirect", ns=lab.router)
    result = results(report)[("tcp", SERVER, 8443)]
    assert (result["state"], result["verdict"], code) == ("open", "fail", 1), err
    assert result["app"]["read"] == {"failure": "closed", "listening": True}
    assert result["note"] == (
        f"a device on the path completed the handshake: the responder on {SERVER} listens "
        "on tcp/8443 and never received the connection (the connection was accepted, then "
        "closed without a responder's reply)"
    )


def test_a_dropped_udp_return_path_is_one_way(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    lab.firewall(f"    ip saddr {SERVER} udp sport 514 drop")
    try:
        args = ("--topology", str(site(tmp_path)), *CLIENT_AND_MANAGER)
        code, report, err = check(lab, *args, token=responder.token)
    finally:
        lab.firewall("")
    found = results(report)
    syslog = found[("udp", SERVER, 514)]
    assert (syslog["state"], syslog["reason"], syslog["verdict"]) == (
        "open", "responder-seen", "warn",
    ), err  # fmt: skip
    assert syslog["note"].startswith(f"one-way: the responder on {SERVER} received it"), syslog
    assert syslog["app"]["read"]["one_way"] is True
    assert endpoint(syslog["app"]["read"]["seen_as"])[0] == lab.client_v4
    # The other family and port still answer: the drop is that one return path.
    assert found[("udp", SERVER6, 514)]["reason"] == "responder-reply"
    assert found[("udp", SERVER, 138)]["reason"] == "responder-reply"
    assert code == 0  # a warning


def test_udp_blocked_toward_the_server_is_filtered(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    lab.firewall(f"    udp dport 138 drop\n    ip6 daddr {SERVER6} udp dport 514 drop")
    try:
        args = ("--topology", str(site(tmp_path)), *CLIENT_AND_MANAGER)
        code, report, err = check(lab, *args, token=responder.token)
    finally:
        lab.firewall("")
    found = results(report)
    for key, severity in ((("udp", SERVER, 138), "warn"), (("udp", SERVER6, 514), "fail")):
        result = found[key]
        assert (result["state"], result["reason"]) == ("filtered", "responder-not-seen"), err
        assert result["app"]["ok"] is False
        assert result["app"]["read"] == {"listening": True}
        assert "listens on udp/" in result["detail"]
        assert "received none of 3" in result["detail"]
        # The responder's reading fails; a flow of severity warn (NetBIOS datagrams, only
        # a fallback of push deployment) says so as a warning.
        assert result["verdict"] == severity, result
    assert found[("udp", SERVER, 514)]["reason"] == "responder-reply"
    assert code == 1


def test_a_flood_without_the_token_gets_nothing_and_costs_no_memory(
    lab: Lab, responder: Listener
) -> None:
    process = psutil.Process(responder.pid)
    assert "listen" in process.cmdline()  # ip netns exec executed it: the responder's pid
    before, delivered = process.memory_info().rss, udp_delivered(lab.server)
    done = lab.exec(
        sys.executable, "-m", "tests.lab.responder", "flood",
        "--address", SERVER, "--token", responder.token,
        "--udp", "514", "--tcp", "8014", "--datagrams", "20000", "--connections", "200",
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    grown = process.memory_info().rss - before
    # The flood reached the responder's socket (most of it: a burst may overflow the
    # socket's buffer), and nothing came back.
    assert udp_delivered(lab.server) - delivered >= 15_000, seen
    assert (seen["udp_sent"], seen["udp_replies"]) == (20_000, 0)
    assert (seen["tcp_connections"], seen["tcp_bytes"]) == (200, 0)
    assert grown < 3 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"
    # A token probe afterwards is answered, with exactly its own size.
    assert (seen["udp_request"], seen["udp_reply"]) == (64, 64)
    assert (seen["tcp_request"], seen["tcp_reply"]) == (64, 64)
    responder.flooded = seen["udp_sent"]


def test_ctrl_c_writes_a_report_of_every_probe(
    lab: Lab, responder: Listener, tmp_path: Path
) -> None:
    """Last in the module: it stops the responder."""
    args = ("--topology", str(site(tmp_path)), *CLIENT_AND_MANAGER)
    code, report, err = check(lab, *args, token=responder.token)
    assert code == 0, err
    listen = responder.stop()
    assert (listen.complete, listen.stopped_by) == (False, "Ctrl-C")
    assert listen.fingerprint == report["parameters"]["responder"] == responder.fingerprint
    # Each UDP port's TCP twin answers queries (a UDP-only host can say what it received).
    assert {(p.protocol, p.port) for p in listen.listening} == {
        ("tcp", 8014), ("tcp", 443), ("tcp", 8443), ("udp", 514), ("udp", 138),
        ("tcp", 514), ("tcp", 138),
    }  # fmt: skip
    assert all(p.families == ["ipv4", "ipv6"] for p in listen.listening)
    events = {
        (e.protocol, e.port, str(ipaddress.ip_address(e.source.address)), e.source.port)
        for e in listen.events
        if e.what == "probe" and e.answered
    }
    for (protocol, _, port), result in results(report).items():
        assert (protocol, port, *endpoint(result["app"]["read"]["seen_as"])) in events
    # The flood (when it ran) is counted, not recorded.
    ignored = {(i.protocol, i.port): i.count for i in listen.ignored}
    assert ignored.get(("udp", 514), 0) >= responder.flooded * 3 // 4
    assert listen.events_left_out == 0
    assert "sepcheck listen: stopped by Ctrl-C" in responder.lines[-1]
