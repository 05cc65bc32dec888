"""Fleet audits on Ansible, for real (issue 16): ansible-core from PyPI drives the
collection in ansible/ over SSH against three SEP hosts in network namespaces (a manager,
a client, a GUP: tests/lab/fleet.py), each running Debian's OpenSSH; the router between
them drops one flow (the client toward the GUP's proxy port, TCP 2967). The merged site
view must list every flow from every vantage, exactly one failing (the dropped one), and
the play must fail because of it; a host whose sshd is stopped is a gap, never a pass.
The inventory also holds hosts without sepcheck roles (left out, never gaps) and makes
every host become with a user the controller cannot become (its steps must not), and
--limit must still merge.
"""

from __future__ import annotations

import atexit
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from tests.lab import apps
from tests.lab.fleet import (
    CLIENT,
    GUP,
    HOSTS,
    MANAGER,
    NO_ROLES,
    Fleet,
    install_ansible,
    inventory,
    run_tool,
)
from tests.lab.lab import ROOT, missing_requirements

pytestmark = pytest.mark.lab

COLLECTION = ROOT / "ansible"
PLAYBOOK = COLLECTION / "playbooks" / "audit.yml"
BLOCKED = "client-gup-proxy"
DROP = f"    ip saddr {CLIENT.address} ip daddr {GUP.address} tcp dport 2967 drop\n"
# The manager's own ports serve its loopback flows; its host firewall closes them to the
# network, as the client's must-not-reach flows want (a reset: what a closed port gives).
MANAGER_LOCAL = [8447, 8765, 1100]
MANAGER_FIREWALL = '    iifname != "lo" tcp dport { 8447, 8765, 1100 } reject with tcp reset\n'
# What each vantage measures on this site (SEP 14.3 RU8, no features): the manager its
# local flows; the client and the GUP (a client too) every client flow.
MANAGER_FLOWS = {
    "manager-manager-launcher",
    "manager-manager-tomcat-shutdown",
    "manager-manager-rmi-registry",
}
CLIENT_FLOWS = {
    "client-gup-proxy",
    "client-manager-http",
    "client-manager-https",
    "client-manager-launcher-exposure",
    "client-manager-tomcat-shutdown-exposure",
    "client-manager-rmi-registry-exposure",
    "client-manager-web-console-exposure",
    "client-manager-console-https-exposure",
}
VANTAGES = {MANAGER.name: MANAGER_FLOWS, CLIENT.name: CLIENT_FLOWS, GUP.name: CLIENT_FLOWS}
LEFT_OUT = "has no sepcheck_roles: left out of the audit"
MERGE_FAILED = re.compile(r"^fatal: \[\S+ -> localhost\]: FAILED! => .*the site view fails", re.M)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture(scope="session")
def ansible_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tools = install_ansible(tmp_path_factory.mktemp("ansible"))
    if isinstance(tools, str):
        pytest.skip(tools)
    return tools


def _collection_ready() -> None:
    if not PLAYBOOK.exists():
        pytest.fail(f"the collection's playbook {PLAYBOOK.relative_to(ROOT)} is missing")


@pytest.fixture(scope="module")
def fleet(ansible_tools: Path) -> Iterator[Fleet]:
    reason = missing_requirements() or apps.missing("sshd", "ssh-keygen")
    if reason:
        pytest.skip(reason)
    _collection_ready()
    built = Fleet()
    atexit.register(built.teardown)  # also after an interrupted run
    try:
        built.build()
        for host in HOSTS:
            built.start_sshd(host)
        built.serve(tcp=[8014, 443, *MANAGER_LOCAL], udp=[], ns=built.ns(MANAGER))
        built.serve(tcp=[2967], udp=[], ns=built.ns(GUP))
        built.host_firewall(MANAGER, MANAGER_FIREWALL)
        (built.home / "inventory.yml").write_text(inventory(sys.executable))
        done = built.controller(
            ansible_tools, "ansible-galaxy", "collection", "install", "--force", "--no-deps",
            "-p", str(built.home / "collections"), str(COLLECTION), timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        yield built
    finally:
        built.teardown()
        atexit.unregister(built.teardown)


def audit(fleet: Fleet, tools: Path, name: str, *extra: str) -> tuple[Any, Path, str]:
    """Run the audit playbook into a reports folder of its own: the play's result, the
    folder, and its output."""
    reports = fleet.home / name
    command = ["ansible-playbook", "-i", str(fleet.home / "inventory.yml"), str(PLAYBOOK)]
    command += ["-e", f"sepcheck_reports_dir={reports}"]
    # The hosts share this machine's file system: each works in a folder of its own (the
    # default, /var/lib/sepcheck, would be one folder for all three, and outlive the test).
    workdir = f"{fleet.home}/work/{{{{ inventory_hostname }}}}"
    command += ["-e", f"sepcheck_workdir={workdir}"]
    # A stopped sshd refuses at once; the wait is for hosts that are slow to answer.
    done = fleet.controller(tools, *command, "-e", "sepcheck_connect_timeout=5", *extra)
    return done, reports, done.stdout + done.stderr


def recap(output: str) -> dict[str, tuple[int, int]]:
    """PLAY RECAP: host -> (unreachable, failed)."""
    return {m[1]: (int(m[2]), int(m[3])) for m in RECAP.finditer(output)}


def failed_by_the_merge(output: str) -> bool:
    """The run's one failure is the merge's verdict, on the controller (the merge play's
    first host, delegated to localhost): no host failed its audit."""
    failures = sum(failed for _, failed in recap(output).values())
    return failures == 1 and MERGE_FAILED.search(output) is not None


def site_view(reports: Path, output: str) -> dict[str, Any]:
    path = reports / "site.json"
    assert path.is_file(), f"no {path}:\n{output[-4000:]}"
    view: dict[str, Any] = json.loads(path.read_text())
    return view


def missing_file(reports: Path) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads((reports / "missing.json").read_text())
    return listed


def assert_left_out(output: str, reports: Path, view: dict[str, Any]) -> None:
    """The hosts without sepcheck roles said so, and are neither measured nor missing."""
    for name in NO_ROLES:
        assert f"{name} {LEFT_OUT}" in output, output[-4000:]
        assert name not in {m["host"] for m in view.get("missing") or []}
        assert name not in {m["host"] for m in missing_file(reports)}
        assert name not in measured_from(view)


def measured_from(view: dict[str, Any]) -> dict[str, set[str]]:
    """host -> the flows it measured, from the site view."""
    seen: dict[str, set[str]] = {}
    for flow in view["flows"]:
        for m in flow["measured_by"]:
            seen.setdefault(m["hostname"], set()).add(flow["flow"])
    return seen


def test_a_fleet_audit_finds_the_one_blocked_flow(fleet: Fleet, ansible_tools: Path) -> None:
    fleet.firewall(DROP)
    # An extra var reaches the topology: the listing is written from inside the play.
    extra = ("-e", "sepcheck_site_name=from-extra-vars")
    done, reports, output = audit(fleet, ansible_tools, "blocked", *extra)
    topology = (reports / "site.toml").read_text()
    assert 'name = "from-extra-vars"' in topology, topology
    # The play fails because the merged verdict fails, not because a host did.
    assert done.returncode != 0, output[-4000:]
    assert failed_by_the_merge(output), output[-4000:]
    assert recap(output) == {
        **{h.name: (0, ANY) for h in HOSTS},
        **{name: (0, 0) for name in NO_ROLES},
    }, output[-4000:]
    for host in HOSTS:
        assert (reports / f"{host.name}.json").is_file(), output[-4000:]
    view = site_view(reports, output)
    assert not view.get("missing"), view.get("missing")
    assert measured_from(view) == VANTAGES
    failing = {f["flow"]: f for f in view["flows"] if f["verdict"] == "fail"}
    assert set(failing) == {BLOCKED}
    # Dropped on the way from the client; the GUP reaches its own port.
    verdicts = {m["hostname"]: m["verdict"] for m in failing[BLOCKED]["measured_by"]}
    assert verdicts == {CLIENT.name: "fail", GUP.name: "pass"}
    # Gaps only where the site has nobody to measure (consoles, partners: no such hosts).
    gaps = {f["flow"]: f["source"] for f in view["flows"] if f["status"] == "gap"}
    assert not set(gaps.values()) & {"manager", "client", "gup"}, gaps
    html = (reports / "site.html").read_text()
    assert BLOCKED in html
    assert BLOCKED in output  # the merge summary the play prints names it
    assert_left_out(output, reports, view)


def test_a_limited_audit_still_merges(fleet: Fleet, ansible_tools: Path) -> None:
    """--limit filters every play's hosts: the merge still runs, over the hosts of the
    limit, and the play's exit follows its verdict (fails on the blocked flow, passes
    without it). A host of the limit without sepcheck roles changes neither."""
    fleet.firewall(DROP)
    limit = ",".join([CLIENT.name, *NO_ROLES])
    done, reports, output = audit(fleet, ansible_tools, "limited", "--limit", limit)
    assert done.returncode != 0, output[-4000:]
    assert failed_by_the_merge(output), output[-4000:]
    view = site_view(reports, output)
    assert missing_file(reports) == []
    assert measured_from(view) == {CLIENT.name: CLIENT_FLOWS}
    assert {f["flow"] for f in view["flows"] if f["verdict"] == "fail"} == {BLOCKED}
    assert_left_out(output, reports, view)

    fleet.firewall("")
    done, reports, output = audit(fleet, ansible_tools, "limited-pass", "--limit", limit)
    assert done.returncode == 0, output[-4000:]
    view = site_view(reports, output)
    assert missing_file(reports) == []
    assert measured_from(view) == {CLIENT.name: CLIENT_FLOWS}
    assert all(f["verdict"] in ("pass", None) for f in view["flows"]), view["flows"]
    assert_left_out(output, reports, view)


def test_an_unreachable_host_is_a_gap_never_a_pass(fleet: Fleet, ansible_tools: Path) -> None:
    """Every flow passes except that the GUP cannot be reached: the site view is not a
    pass, the GUP is missing with the reason Ansible gave, and what it would have
    measured is not measured from it."""
    fleet.firewall("")
    fleet.stop_sshd(GUP)
    done, reports, output = audit(fleet, ansible_tools, "unreachable")
    assert done.returncode != 0, output[-4000:]
    assert failed_by_the_merge(output), output[-4000:]
    assert not (reports / f"{GUP.name}.json").exists()
    view = site_view(reports, output)
    missing = {m["host"]: m for m in view["missing"]}
    assert set(missing) == {GUP.name}
    reason = missing[GUP.name]["reason"]
    assert reason.startswith("unreachable"), reason
    assert "Connection refused" in reason, reason
    assert "gup" in missing[GUP.name]["roles"]
    assert measured_from(view) == {h: VANTAGES[h] for h in (MANAGER.name, CLIENT.name)}
    assert all(f["verdict"] in ("pass", None) for f in view["flows"]), view["flows"]
    # The GUP's flows (a GUP is a client too) say they were not measured from it, and a
    # flow nobody else measured is a gap with its reason.
    noted = {
        f["flow"]: f for f in view["flows"] if {"host": GUP.name, "reason": reason} in f["missing"]
    }
    assert set(noted) == {f["flow"] for f in view["flows"] if f["source"] in ("client", "gup")}
    assert set(noted) >= CLIENT_FLOWS
    for flow in noted.values():
        # Another client left it out on purpose (a feature the site lacks): that stays.
        if not flow["measured_by"] and not flow["not_planned_by"]:
            assert flow["status"] == "gap"
            assert f"not measured from {GUP.name}: {reason}" in flow["why"], flow
    html = (reports / "site.html").read_text()
    assert GUP.name in html
    assert "Connection refused" in html


def test_what_only_the_unreachable_host_measures_is_a_gap(
    fleet: Fleet, ansible_tools: Path
) -> None:
    """The workstations left out of the play (sepcheck_hosts): the client flows were only
    the GUP's to measure, so each is a gap that says why it was not measured from it."""
    fleet.firewall("")
    fleet.stop_sshd(GUP)
    done, reports, output = audit(
        fleet, ansible_tools, "gaps", "-e", "sepcheck_hosts=sepm_servers:gups"
    )
    assert done.returncode != 0, output[-4000:]
    view = site_view(reports, output)
    [host] = view["missing"]
    assert host["host"] == GUP.name
    flows = {f["flow"]: f for f in view["flows"]}
    for name in CLIENT_FLOWS:
        assert flows[name]["status"] == "gap", flows[name]
        assert flows[name]["verdict"] is None
        assert f"not measured from {GUP.name}: {host['reason']}" in flows[name]["why"]


def test_the_collection_builds_and_lints_clean(ansible_tools: Path, tmp_path: Path) -> None:
    _collection_ready()
    out = tmp_path / "build"
    command = ["ansible-galaxy", "collection", "build", "--force", "--output-path", str(out)]
    built = run_tool(ansible_tools, *command, cwd=COLLECTION, home=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert list(out.glob("sepcheck-sepcheck-*.tar.gz")), built.stdout
    lint = run_tool(
        ansible_tools, "ansible-lint", "--profile", "production", cwd=COLLECTION, home=tmp_path
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
