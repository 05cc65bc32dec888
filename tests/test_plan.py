from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sepcheck.catalogue import Catalogue
from sepcheck.model import Expect, Protocol, Role
from sepcheck.plan import SkipReason, Vantage, build_plan, infer_vantage
from sepcheck.topology import load_topology

Write = Callable[[str, str], Path]

FULL = """sep_version = "14.3 RU8"
features = ["sql_server_database", "mac_push"]
[roles.manager]
hosts = ["198.18.2.2"]
[roles.database]
hosts = ["198.18.2.3"]
[roles.client]
hosts = ["198.18.16.0/20"]
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
    # Push deployment: 4 Windows ports + SSH for Mac, to each of the 4,094 clients.
    for flow in (
        "manager-client-push-netbios-ssn",
        "manager-client-push-smb",
        "manager-client-push-netbios-ns",
        "manager-client-push-netbios-dgm",
        "manager-client-push-mac-ssh",
    ):
        assert per_flow[flow] == 4094
    assert per_flow["manager-database-sqlserver"] == 1
    assert per_flow["manager-syslog-forwarding"] == 1
    assert per_flow["manager-cloud_console-https"] == 1
    assert per_flow["manager-replication_partner-https"] == 1
    assert per_flow["manager-manager-launcher"] == 1  # local
    assert "manager-content_analysis-http" not in per_flow  # 14.2.x only
    assert plan.total == 5 * 4094 + 1 + 1 + 1 + 1 + 3
    probes = list(plan.probes())
    assert len(probes) == plan.total
    counts = Counter(p.flow for p in probes)
    assert counts == Counter(per_flow)
    skipped = {s.entry.id: s.reason for s in plan.skipped}
    assert skipped["manager-content_analysis-http"] is SkipReason.VERSION
    assert skipped["manager-database-embedded"] is SkipReason.FEATURE


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


def test_several_roles(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", FULL), catalogue)
    both = build_plan(catalogue, topology, Vantage((Role.GUP, Role.CLIENT)))
    client = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    assert both.total == client.total  # no catalogue flow starts at a GUP


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
