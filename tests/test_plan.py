from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sepcheck.catalogue import Catalogue, load_catalogue
from sepcheck.errors import TopologyError
from sepcheck.model import Expect, Protocol, Role, Severity
from sepcheck.plan import Plan, Probe, SkipReason, Vantage, build_plan, infer_vantage
from sepcheck.topology import load_topology

Write = Callable[[str, str], Path]

FULL = """sep_version = "14.3 RU8"
features = ["sql_server_database", "mac_push", "windows_push"]
[roles.manager]
hosts = ["198.18.2.2"]
[roles.database]
hosts = ["198.18.2.3"]
[[roles.client]]
hosts = ["198.18.16.0/20"]
[[roles.client]]
description = "Design team Macs"
os = "mac"
hosts = ["198.18.32.0/28"]
[roles.gup]
hosts = ["198.18.1.20", "198.18.1.21"]
[roles.remote_console]
hosts = ["198.18.5.10"]
[roles.reporting_console]
hosts = ["198.18.5.11"]
[roles.replication_partner]
hosts = ["198.18.6.2"]
[roles.spc]
hosts = ["198.18.5.12"]
[roles.rmm_edr]
hosts = ["198.18.5.13"]
[roles.syslog]
hosts = ["198.18.7.2"]
[roles.content_analysis]
hosts = ["198.18.7.3"]
[roles.cloud_console]
hosts = ["cloud.example.test"]
"""


def test_manager_plan_on_a_slash_20(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.MANAGER,)))
    per_flow = {f.entry.id: f.count for f in plan.flows}
    # Windows push: 4 ports to the 4,094 untagged clients and the 2 GUPs (a GUP is a
    # client); Mac push (SSH) only to the 14 clients of the group tagged mac.
    for flow in (
        "manager-client-push-netbios-ssn",
        "manager-client-push-smb",
        "manager-client-push-netbios-ns",
        "manager-client-push-netbios-dgm",
    ):
        assert per_flow[flow] == 4094 + 2
    assert per_flow["manager-client-push-mac-ssh"] == 14
    assert per_flow["manager-database-sqlserver"] == 1
    assert per_flow["manager-syslog-forwarding"] == 1
    assert per_flow["manager-cloud_console-https"] == 1
    assert per_flow["manager-replication_partner-https"] == 1
    assert per_flow["manager-manager-launcher"] == 1  # local
    assert "manager-content_analysis-http" not in per_flow  # 14.2.x only
    assert plan.total == 4 * 4096 + 14 + 1 + 1 + 1 + 1 + 3
    probes = list(plan.probes())
    assert len(probes) == plan.total
    counts = Counter(p.flow for p in probes)
    assert counts == Counter(per_flow)
    skipped = {s.entry.id: s.reason for s in plan.skipped}
    assert skipped["manager-content_analysis-http"] is SkipReason.VERSION
    assert skipped["manager-manager-embedded-database"] is SkipReason.FEATURE


def test_client_plan(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    probes = list(plan.probes())
    by_flow = {p.flow: p for p in probes}
    assert by_flow["client-manager-http"].address == "198.18.2.2"
    assert by_flow["client-manager-http"].port == 8014
    assert by_flow["client-manager-http"].expect is Expect.REACHABLE
    assert by_flow["client-manager-launcher-exposure"].expect is Expect.UNREACHABLE
    assert by_flow["client-cloud_console-https"].address is None  # a name, resolved later
    assert by_flow["client-cloud_console-https"].host == "cloud.example.test"
    assert Counter(p.flow for p in probes)["client-gup-proxy"] == 2
    assert all(p.source is Role.CLIENT for p in probes)
    # Manager-side flows never show up for a client.
    assert not any(p.flow.startswith("manager-") for p in probes)
    # Plan probes go with the system's TTL (only `trace` sets its own); the property is
    # not a field, so it costs nothing per probe and changes no equality.
    assert {p.ttl for p in probes} == {None}
    assert "ttl" not in {f.name for f in dataclasses.fields(Probe)}


def test_the_plan_loads_without_pydantic() -> None:
    """The site model's values are validated once, by the catalogue and the topology; the
    plan itself (and so the engine's view of a probe) needs no pydantic at import."""
    code = "import sys, sepcheck.plan; print('pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_local_flows_probe_loopback(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.MANAGER,)))
    local = [p for p in plan.probes() if p.flow.startswith("manager-manager-")]
    assert {(p.address, p.port) for p in local} == {
        ("127.0.0.1", 8447),
        ("127.0.0.1", 8765),
        ("127.0.0.1", 1100),
    }


def test_gaps_and_optional_roles(write: Write, catalogue: Catalogue) -> None:
    text = '[roles.client]\nhosts = ["198.18.1.2"]\n'
    topology = load_topology(write("site.toml", text), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    assert plan.total == 0
    reasons = {s.entry.id: s.reason for s in plan.skipped}
    assert reasons["client-manager-http"] is SkipReason.GAP
    assert reasons["client-gup-proxy"] is SkipReason.NO_HOSTS  # optional role
    assert reasons["client-cloud_console-https"] is SkipReason.NO_HOSTS
    assert {s.entry.id for s in plan.gaps} >= {"client-manager-http", "client-manager-https"}


def test_skip_and_port_override(write: Write, catalogue: Catalogue) -> None:
    text = FULL + '[ports]\nclient-manager-http = 80\n[flows]\nskip = ["client-manager-https"]\n'
    topology = load_topology(write("site.toml", text), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    ports = {p.flow: p.port for p in plan.probes()}
    assert ports["client-manager-http"] == 80
    assert "client-manager-https" not in ports
    assert {s.entry.id: s.reason for s in plan.skipped}["client-manager-https"] is (
        SkipReason.SKIPPED
    )


def test_a_gup_is_a_client(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    gup = build_plan(catalogue, topology, Vantage((Role.GUP,)))
    client = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    assert gup.total == client.total > 0  # a GUP reaches the manager like any client
    assert {f.entry.id for f in gup.flows} >= {"client-manager-http", "client-manager-https"}
    assert gup.vantage.all_roles == (Role.GUP, Role.CLIENT)
    assert any("implied by gup" in note and "KB 177667" in note for note in gup.notes)
    both = build_plan(catalogue, topology, Vantage((Role.GUP, Role.CLIENT)))
    assert both.vantage.implied == ()  # given, not implied


def test_udp_flows_are_udp(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.MANAGER,)))
    udp = {p.port for p in plan.probes() if p.protocol is Protocol.UDP}
    assert udp == {137, 138, 514}


def test_infer_vantage(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    ip = ipaddress.ip_address
    found = infer_vantage(topology, [ip("127.0.0.1"), ip("198.18.17.5")], ["wks17"])
    assert found is not None
    assert found.roles == (Role.CLIENT,)
    assert found.inferred
    assert "198.18.17.5" in found.evidence
    assert "198.18.16.0/20" in found.evidence
    both = infer_vantage(topology, [ip("198.18.2.2"), ip("198.18.2.3")], [])
    assert both is not None
    assert set(both.roles) == {Role.MANAGER, Role.DATABASE}
    by_name = infer_vantage(topology, [], ["cloud.example.test"])
    assert by_name is not None
    assert by_name.roles == (Role.CLOUD_CONSOLE,)
    assert infer_vantage(topology, [ip("127.0.0.1"), ip("198.19.0.1")], ["x"]) is None


def _plan(write: Write, catalogue: Catalogue, text: str, *roles: Role) -> Plan:
    topology = load_topology(write("site.toml", text), catalogue)
    return build_plan(catalogue, topology, Vantage(roles))


def _ports(plan: Plan) -> set[tuple[str, int]]:
    """(flow, port) of every probe, for each flow that a shared probe is judged for."""
    return {(flow, p.port) for p in plan.probes() for flow in (p.flow, *p.also)}


MANAGER = '[roles.manager]\nhosts = ["198.18.2.2"]\n'


def test_management_server_list_picks_the_client_manager_flows(
    write: Write, catalogue: Catalogue
) -> None:
    # 12.1 without the setting: HTTP only (HTTPS is optional in 12.1.x).
    plan = _plan(write, catalogue, 'sep_version = "12.1.6 MP10"\n' + MANAGER, Role.CLIENT)
    flows = {f.entry.id for f in plan.flows}
    assert "client-manager-http" in flows
    assert "client-manager-https" not in flows
    skipped = {s.entry.id: s for s in plan.skipped}
    assert skipped["client-manager-https"].reason is SkipReason.SETTING
    assert "management_server_list names http" in skipped["client-manager-https"].detail
    assert any("default for 12.1.6 MP10" in n for n in plan.notes)
    # 14.3 without the setting: both, as alternatives of one group.
    plan = _plan(write, catalogue, 'sep_version = "14.3 RU8"\n' + MANAGER, Role.CLIENT)
    assert plan.groups["client-manager"].members == ("client-manager-http", "client-manager-https")
    assert {p.group for p in plan.probes() if p.port in (8014, 443)} == {"client-manager"}
    # An HTTPS-only 14.x site says so: 8014 is not planned at all.
    text = 'sep_version = "14.3 RU8"\nmanagement_server_list = ["https"]\n' + MANAGER
    plan = _plan(write, catalogue, text, Role.CLIENT)
    assert ("client-manager-https", 443) in _ports(plan)
    assert ("client-manager-http", 8014) not in _ports(plan)
    assert plan.notes == ()  # given, not a default


def test_push_deployment_is_a_feature(write: Write, catalogue: Catalogue) -> None:
    clients = '[roles.client]\nhosts = ["198.18.1.0/30", "fd00:18::5", "pc1.example.test"]\n'
    text = MANAGER + clients
    plan = _plan(write, catalogue, text, Role.MANAGER)
    reasons = {s.entry.id: s.reason for s in plan.skipped}
    for flow in ("push-smb", "push-netbios-ssn", "push-netbios-ns", "push-netbios-dgm"):
        assert reasons[f"manager-client-{flow}"] is SkipReason.FEATURE
    plan = _plan(write, catalogue, 'features = ["windows_push"]\n' + text, Role.MANAGER)
    counts = {f.entry.id: f.count for f in plan.flows}
    # 445 goes everywhere; NetBIOS (IPv4 only) never to an IPv6 address, and names are
    # resolved to IPv4 only.
    assert counts["manager-client-push-smb"] == 4
    assert counts["manager-client-push-netbios-ns"] == 3
    ipv4_only = {s.entry.id: s.detail for s in plan.skipped if s.reason is SkipReason.IPV4_ONLY}
    assert set(ipv4_only) == {
        "manager-client-push-netbios-ssn",
        "manager-client-push-netbios-ns",
        "manager-client-push-netbios-dgm",
    }
    assert all("IPv4 only" in d and "fd00:18::5" in d for d in ipv4_only.values())
    named = [p for p in plan.probes() if p.host == "pc1.example.test"]
    assert {p.port: p.ipv4_only for p in named} == {139: True, 445: False, 137: True, 138: True}
    assert {p.port: p.severity.value for p in named} == {
        139: "warn",
        445: "fail",
        137: "warn",
        138: "warn",
    }
    # An IPv6-only client list: NetBIOS is not planned at all, and says why.
    v6 = 'features = ["windows_push"]\n' + MANAGER + '[roles.client]\nhosts = ["fd00:18::5"]\n'
    plan = _plan(write, catalogue, v6, Role.MANAGER)
    assert {f.entry.id for f in plan.flows} == {"manager-client-push-smb"} | {
        f.entry.id for f in plan.flows if f.entry.scope.value == "local"
    }


def test_mac_push_goes_only_to_mac_groups(write: Write, catalogue: Catalogue) -> None:
    text = (
        'features = ["mac_push", "windows_push"]\n'
        + MANAGER
        + """
[[roles.client]]
hosts = ["198.18.1.0/29"]
[[roles.client]]
os = "mac"
hosts = ["198.18.4.10"]
[[roles.client]]
os = "linux"
hosts = ["198.18.9.10"]
"""
    )
    plan = _plan(write, catalogue, text, Role.MANAGER)
    by_flow: dict[str, set[str]] = {}
    for probe in plan.probes():
        by_flow.setdefault(probe.flow, set()).add(probe.host)
    assert by_flow["manager-client-push-mac-ssh"] == {"198.18.4.10"}
    assert "198.18.4.10" not in by_flow["manager-client-push-smb"]
    assert "198.18.9.10" not in by_flow["manager-client-push-smb"]  # Linux: no Windows push
    assert len(by_flow["manager-client-push-smb"]) == 6
    os_notes = {s.entry.id: s.detail for s in plan.skipped if s.reason is SkipReason.OS}
    assert os_notes["manager-client-push-smb"] == (
        "for windows hosts: not planned to 198.18.4.10 (os mac); 198.18.9.10 (os linux)"
    )
    # mac_push on, but no group says which clients are Macs: a gap that says how to fix it.
    untagged = 'features = ["mac_push"]\n' + MANAGER + '[roles.client]\nhosts = ["198.18.1.5"]\n'
    plan = _plan(write, catalogue, untagged, Role.MANAGER)
    gap = {s.entry.id: s for s in plan.gaps}["manager-client-push-mac-ssh"]
    assert 'os = "mac"' in gap.detail


def test_remote_console_reaches_the_reporting_site(write: Write, catalogue: Catalogue) -> None:
    plan = _plan(write, catalogue, MANAGER, Role.REMOTE_CONSOLE)
    assert ("remote_console-manager-reporting", 8445) in _ports(plan)
    # One listener: moving the reporting console's 8445 moves the console's too.
    moved = _plan(
        write,
        catalogue,
        MANAGER + "[ports]\nreporting_console-manager-reporting = 9445\n",
        Role.REMOTE_CONSOLE,
    )
    assert ("remote_console-manager-reporting", 9445) in _ports(moved)


def test_one_override_per_listener(write: Write, catalogue: Catalogue) -> None:
    text = (
        MANAGER
        + '[roles.remote_console]\nhosts = ["198.18.5.10"]\n'
        + "[ports]\nremote_console-manager-https = 9443\nrmm_edr-manager-webservices = 9446\n"
    )
    ports = _ports(_plan(write, catalogue, text, Role.REPLICATION_PARTNER, Role.REMOTE_CONSOLE))
    assert ("replication_partner-manager-https", 9443) in ports
    assert ("remote_console-manager-https", 9443) in ports
    assert ("remote_console-manager-webservices", 9446) in ports
    with pytest.raises(TopologyError) as info:
        _plan(
            write,
            catalogue,
            MANAGER + "[ports]\nreplication_partner-manager-https = 9443\n",
            Role.REPLICATION_PARTNER,
        )
    assert "remote_console-manager-https" in str(info.value.hint)


def test_embedded_database_lives_on_the_manager(write: Write, catalogue: Catalogue) -> None:
    text = 'features = ["embedded_database"]\n' + MANAGER
    manager = _plan(write, catalogue, text, Role.MANAGER)
    local = {(p.flow, p.address, p.port) for p in manager.probes()}
    assert ("manager-manager-embedded-database", "127.0.0.1", 2638) in local
    client = _plan(write, catalogue, text, Role.CLIENT)
    exposure = [p for p in client.probes() if p.port == 2638]
    assert [(p.flow, p.address) for p in exposure] == [
        ("client-manager-embedded-database-exposure", "198.18.2.2")
    ]
    assert not any(p.port == 1433 for p in client.probes())  # no SQL Server at this site
    # A client never probes its own loopback for a database.
    assert not any(p.address == "127.0.0.1" for p in client.probes())


def test_an_admin_workstation_that_is_also_a_client(write: Write, catalogue: Catalogue) -> None:
    plan = _plan(write, catalogue, MANAGER, Role.CLIENT, Role.REMOTE_CONSOLE)
    reasons = {s.entry.id: s for s in plan.skipped}
    for exposure, port in (
        ("client-manager-console-https-exposure", 8443),
        ("client-manager-web-console-exposure", 9090),
    ):
        assert reasons[exposure].reason is SkipReason.CONTRADICTED
        assert f"tcp/{port}" in reasons[exposure].detail
    probes = list(plan.probes())
    keys = [(p.address, p.protocol, p.port) for p in probes]
    assert len(keys) == len(set(keys)) == plan.total  # every target probed once
    launcher = next(p for p in probes if p.port == 8447)
    assert (launcher.flow, launcher.also) == (
        "client-manager-launcher-exposure",
        ("remote_console-manager-launcher-exposure",),
    )
    required = {p.port for p in probes if p.expect is Expect.REACHABLE}
    assert {8443, 9090} <= required


def test_a_host_listed_twice_is_probed_once(write: Write, catalogue: Catalogue) -> None:
    text = '[roles.manager]\nhosts = ["198.18.2.2", "198.18.2.2"]\n'
    plan = _plan(write, catalogue, text, Role.CLIENT)
    probes = list(plan.probes())
    assert len(probes) == plan.total == len({(p.address, p.port) for p in probes})


def test_a_declared_proxy_carries_cloud_and_liveupdate(write: Write, catalogue: Catalogue) -> None:
    direct = (
        MANAGER
        + """
[roles.cloud_console]
hosts = ["cloud.example.test"]
[roles.liveupdate]
hosts = ["liveupdate.example.test"]
"""
    )
    plan = _plan(write, catalogue, direct, Role.MANAGER)
    assert {("manager-cloud_console-https", 443), ("manager-liveupdate-http", 80)} <= _ports(plan)
    assert plan.groups["manager-liveupdate"].members == (
        "manager-liveupdate-http",
        "manager-liveupdate-https",
    )
    proxied = (
        direct
        + '[roles.proxy]\nhosts = ["proxy.example.test"]\n[ports]\nmanager-proxy-web = 3128\n'
    )
    plan = _plan(write, catalogue, proxied, Role.MANAGER)
    targets = {(p.flow, p.host, p.port) for p in plan.probes() if p.destination is not Role.CLIENT}
    assert ("manager-proxy-web", "proxy.example.test", 3128) in targets
    assert not any(
        p in ("manager-cloud_console-https", "manager-liveupdate-http") for p, _, _ in targets
    )
    reasons = {s.entry.id: s for s in plan.skipped}
    assert reasons["manager-cloud_console-https"].reason is SkipReason.PROXY
    # Clients have no proxied flow here (no client LiveUpdate, 14.3 cloud console listed):
    client = _plan(write, catalogue, proxied, Role.CLIENT)
    assert "client-proxy-web" in {f.entry.id for f in client.flows}  # roaming cloud upload
    none = _plan(
        write, catalogue, MANAGER + '[roles.proxy]\nhosts = ["proxy.example.test"]\n', Role.MANAGER
    )
    assert {s.entry.id: s.reason for s in none.skipped}["manager-proxy-web"] is SkipReason.UNUSED


def test_a_role_that_starts_no_flows(write: Write, catalogue: Catalogue) -> None:
    plan = _plan(write, catalogue, MANAGER, Role.SYSLOG)
    assert plan.flows == ()
    assert plan.total == 0


def test_a_manager_that_is_also_a_client(write: Write, catalogue: Catalogue) -> None:
    """SEPM servers run the SEP client: no exposure checks toward the host's own role."""
    plan = _plan(write, catalogue, MANAGER, Role.MANAGER, Role.CLIENT)
    assert not any(f.entry.expect is Expect.UNREACHABLE for f in plan.flows)
    reasons = {s.entry.id: s for s in plan.skipped}
    assert reasons["client-manager-web-console-exposure"].reason is SkipReason.CONTRADICTED
    assert "itself a manager" in reasons["client-manager-console-https-exposure"].detail
    assert {"client-manager-http", "client-manager-https"} <= {f.entry.id for f in plan.flows}


def test_netbios_leaves_out_the_ipv6_addresses_of_a_hosts_file(
    write: Write, catalogue: Catalogue
) -> None:
    """A hosts file mixes families; its IPv6 addresses, counted when the topology loads,
    are never NetBIOS targets, and the plan says how many it left out."""
    write(
        "clients.txt",
        "198.18.4.1\nfd00:18::5\nfd00:18::/120\nfd00::1-fd00::4\nwks01.example.test\n"
        "198.18.5.0/30\n",
    )
    text = (
        'features = ["windows_push"]\n' + MANAGER + '[roles.client]\nhost_files = ["clients.txt"]\n'
    )
    plan = _plan(write, catalogue, text, Role.MANAGER)
    counts = {f.entry.id: f.count for f in plan.flows}
    assert counts["manager-client-push-smb"] == 264  # every target of the file
    netbios = ("manager-client-push-netbios-ssn", "manager-client-push-netbios-ns")
    for flow in (*netbios, "manager-client-push-netbios-dgm"):
        assert counts[flow] == 4  # 198.18.4.1, wks01 and the two of 198.18.5.0/30
    probes = list(plan.probes())
    assert len(probes) == plan.total
    for flow in netbios:
        hosts = [p.host for p in probes if p.flow == flow]
        assert hosts == ["198.18.4.1", "wks01.example.test", "198.18.5.1", "198.18.5.2"]
    ipv4_only = {s.entry.id: s.detail for s in plan.skipped if s.reason is SkipReason.IPV4_ONLY}
    assert ipv4_only["manager-client-push-netbios-ssn"] == (
        "NetBIOS over TCP/IP is IPv4 only (RFC 1001/1002): not planned to "
        "the 260 IPv6 addresses of clients.txt"
    )
    assert "manager-client-push-smb" not in ipv4_only


def test_a_hosts_file_of_ipv6_addresses_only_gives_netbios_no_target(
    write: Write, catalogue: Catalogue
) -> None:
    """It used to plan NetBIOS to "v6.txt (0 hosts)": a flow of no probe, said nowhere."""
    write("v6.txt", "fd00:18::5\nfd00:18::/126\n")
    text = 'features = ["windows_push"]\n' + MANAGER + '[roles.client]\nhost_files = ["v6.txt"]\n'
    plan = _plan(write, catalogue, text, Role.MANAGER)
    counts = {f.entry.id: f.count for f in plan.flows}
    assert counts["manager-client-push-smb"] == 4  # ::5, and ::1-::3 of the /126
    assert "manager-client-push-netbios-ns" not in counts
    ipv4_only = {s.entry.id: s.detail for s in plan.skipped if s.reason is SkipReason.IPV4_ONLY}
    assert ipv4_only["manager-client-push-netbios-ns"] == (
        "NetBIOS over TCP/IP is IPv4 only (RFC 1001/1002) and every client host is IPv6: "
        "the 4 IPv6 addresses of v6.txt"
    )


def test_netbios_leaves_out_ipv6_blocks_and_ranges(write: Write, catalogue: Catalogue) -> None:
    """Not only single IPv6 addresses: an IPv6 block or range is no NetBIOS target either."""
    clients = '[roles.client]\nhosts = ["198.18.1.0/30", "fd00:18::/126", "fd00::1-fd00::4"]\n'
    text = 'features = ["windows_push"]\n' + MANAGER + clients
    plan = _plan(write, catalogue, text, Role.MANAGER)
    counts = {f.entry.id: f.count for f in plan.flows}
    assert counts["manager-client-push-smb"] == 2 + 3 + 4
    assert counts["manager-client-push-netbios-ns"] == 2
    assert not any(p.address is not None and ":" in p.address for p in plan.probes() if p.ipv4_only)
    ipv4_only = {s.entry.id: s.detail for s in plan.skipped if s.reason is SkipReason.IPV4_ONLY}
    assert ipv4_only["manager-client-push-netbios-ns"] == (
        "NetBIOS over TCP/IP is IPv4 only (RFC 1001/1002): not planned to "
        "fd00:18::/126, fd00::1-fd00::4"
    )
    # IPv6 blocks only: NetBIOS is not planned at all, and says why.
    v6 = '[roles.client]\nhosts = ["fd00:18::/126", "fd00::1-fd00::4"]\n'
    plan = _plan(write, catalogue, 'features = ["windows_push"]\n' + MANAGER + v6, Role.MANAGER)
    assert "manager-client-push-netbios-ns" not in {f.entry.id for f in plan.flows}
    ipv4_only = {s.entry.id: s.detail for s in plan.skipped if s.reason is SkipReason.IPV4_ONLY}
    assert ipv4_only["manager-client-push-netbios-ns"] == (
        "NetBIOS over TCP/IP is IPv4 only (RFC 1001/1002) and every client host is IPv6: "
        "fd00:18::/126, fd00::1-fd00::4"
    )


def test_a_host_written_two_ways_is_probed_once(write: Write, catalogue: Catalogue) -> None:
    """The same name in another case or with the root dot, the same address, block or range
    written another way, the same hosts file by another path: one set of probes."""
    write("managers.txt", "198.18.9.1\n")
    text = """[roles.manager]
hosts = [
    "SEPM01.example.test", "sepm01.example.test.",
    "fd00:18::5", "fd00:18:0::5",
    "fd00:19::/126", "fd00:19:0::/126",
    "198.18.3.5-9", "198.18.3.5-198.18.3.9",
]
host_files = ["managers.txt", "./managers.txt"]
"""
    plan = _plan(write, catalogue, text, Role.CLIENT)
    http = {f.entry.id: f for f in plan.flows}["client-manager-http"]
    assert http.count == 1 + 1 + 3 + 5 + 1
    assert [s.text for s in http.specs] == [
        "SEPM01.example.test",
        "fd00:18::5",
        "fd00:19::/126",
        "198.18.3.5-9",
        "managers.txt",
    ]
    probes = list(plan.probes())
    assert len(probes) == plan.total
    keys = [(p.host.lower(), p.protocol, p.port) for p in probes]
    assert len(keys) == len(set(keys))


GROUP_WITHOUT_DEFAULTS = """schema = 1
[groups.client-manager]
description = "HTTP or HTTPS"
setting = "management_server_list"
"""


def test_a_group_without_a_default_for_the_site_plans_every_member(write: Write) -> None:
    """A user's catalogue may give a group a setting and no defaults: a site that leaves
    the setting out then checks every member, as alternatives (and the plan does not
    crash looking for a default)."""
    member = """[[entry]]
id = "client-manager-{0}"
row = 0
protocol = "tcp"
port = {1}
source = "client"
destination = "manager"
purpose = "x"
configurable = true
versions = "all"
group = "client-manager"
choice = "{0}"
"""
    own = load_catalogue(
        write(
            "catalogue.toml",
            GROUP_WITHOUT_DEFAULTS + member.format("http", 8014) + member.format("https", 443),
        )
    )
    plan = _plan(write, own, 'sep_version = "14.3 RU8"\n' + MANAGER, Role.CLIENT)
    assert plan.groups["client-manager"].members == ("client-manager-http", "client-manager-https")
    assert plan.skipped == ()
    assert plan.notes == ()
    given = 'management_server_list = ["https"]\n' + MANAGER
    assert [f.entry.id for f in _plan(write, own, given, Role.CLIENT).flows] == [
        "client-manager-https"
    ]


def test_worker_shares_split_the_plan_by_target(write: Write, catalogue: Catalogue) -> None:
    """Each worker builds only its share: the shares together are the whole plan, once,
    and every probe toward one target (address, else name) lands in the same share."""
    from sepcheck.workers import shard_of_target

    topology = load_topology(write("site.toml", FULL), catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.MANAGER,)))

    def key(p: Probe) -> tuple[str, str, int, str | None]:
        return (p.flow, p.protocol.value, p.port, p.address or p.host)

    whole = sorted(map(key, plan.probes()))

    def share_of(index: int) -> list[Probe]:
        return list(plan.probes(keep=lambda target: shard_of_target(target, 3) == index))

    shares = [share_of(i) for i in range(3)]
    assert sorted(key(p) for share in shares for p in share) == whole
    owners: dict[str, set[int]] = {}
    for i, share in enumerate(shares):
        assert share  # three shares of 16,000 probes: none is empty
        for p in share:
            owners.setdefault(p.address or p.host, set()).add(i)
    assert all(len(o) == 1 for o in owners.values())
    assert {tuple(p.also) for p in shares[0]} <= {tuple(p.also) for p in plan.probes()}


@settings(max_examples=200, deadline=None)
@given(
    flow=st.text(max_size=20),
    host=st.text(max_size=40),
    address=st.none() | st.ip_addresses().map(str),
    spec=st.text(max_size=40),
    port=st.integers(0, 65535),
    protocol=st.sampled_from(list(Protocol)),
    source=st.sampled_from(list(Role)),
    destination=st.sampled_from(list(Role)),
    expect=st.sampled_from(list(Expect)),
    severity=st.sampled_from(list(Severity)),
    group=st.none() | st.text(max_size=10),
    also=st.tuples() | st.tuples(st.text(max_size=10)),
    ipv4_only=st.booleans(),
)
def test_a_stamped_probe_is_the_probe_init_builds(
    flow: str,
    host: str,
    address: str | None,
    spec: str,
    port: int,
    protocol: Protocol,
    source: Role,
    destination: Role,
    expect: Expect,
    severity: Severity,
    group: str | None,
    also: tuple[str, ...],
    ipv4_only: bool,
) -> None:
    """The plan builds its probes by copying a template's fields (``stamp``): the result
    must be the very value ``Probe(...)`` builds, field for field, hash and all, and as
    frozen."""
    from sepcheck.plan.probe import stamp

    built = Probe(
        flow=flow,
        source=source,
        destination=destination,
        host=host,
        address=address,
        spec=spec,
        protocol=protocol,
        port=port,
        expect=expect,
        severity=severity,
        group=group,
        also=also,
        ipv4_only=ipv4_only,
    )
    template = dataclasses.replace(built, host="template", address=None, spec="")
    stamped = stamp(template, host, address, spec)
    assert type(stamped) is Probe
    assert stamped == built
    assert hash(stamped) == hash(built)
    assert dataclasses.astuple(stamped) == dataclasses.astuple(built)
    assert template.host == "template"  # the template is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        stamped.host = "x"  # type: ignore[misc]
