"""Merging reports from several vantage points into one site view."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue
from sepcheck.cli import app
from sepcheck.merge import SiteView, Status, merge_reports
from sepcheck.model import Role
from sepcheck.render.merge import site_json, site_summary, site_table
from sepcheck.report.load import load_report
from sepcheck.report.writer import report_chunks, write_atomic
from tests.test_formats_consumers import make_run
from tests.test_report import make_head

runner = CliRunner()


def reports(catalogue: Catalogue, tmp_path: Path) -> tuple[Path, Path]:
    head, collector = make_head(catalogue, tmp_path)
    manager = tmp_path / "manager.json"
    write_atomic(manager, report_chunks(head, collector.spools))
    collector.close()
    data: dict[str, Any] = json.loads(manager.read_text())
    client = copy.deepcopy(data)
    client["vantage"].update(hostname="wks01", role=["client"])
    client["complete"] = False
    client["verdict"] = "pass"
    flow = dict(client["summary"]["flow_results"][0])
    flow.update(
        flow="client-manager-http",
        source="client",
        destination="manager",
        port=8014,
        probes=1,
        states={"open": 1},
        verdicts={"pass": 1},
        verdict="pass",
        worst=[],
        worst_more=0,
    )
    client["summary"]["flow_results"] = [flow]
    client["results"] = []
    path = tmp_path / "client.json"
    path.write_text(json.dumps(client))
    return manager, path


def test_site_view(catalogue: Catalogue, tmp_path: Path) -> None:
    manager, client = reports(catalogue, tmp_path)
    view = merge_reports(catalogue, [(p, load_report(p)) for p in (manager, client)])
    flows = {f.entry.id: f for f in view.flows}
    assert len(flows) == len(catalogue)
    http = flows["client-manager-http"]
    assert [(m.hostname, m.roles, m.complete) for m in http.measured] == [
        ("wks01", ("client",), False)
    ]
    smb = flows["manager-client-push-smb"]
    assert smb.measured[0].hostname == "h"
    assert smb.verdict is not None
    assert smb.verdict.value == "fail"
    gaps = {f.entry.id for f in view.gaps}
    assert "client-manager-https" in gaps
    assert "client-manager-http" not in gaps
    assert "manager-client-push-smb" not in gaps
    measured = sum(1 for f in view.flows if f.measured)
    assert measured == 1 + 7  # one client flow, seven manager flows
    assert view.failing


def test_cli_merge_json(catalogue: Catalogue, tmp_path: Path) -> None:
    manager, client = reports(catalogue, tmp_path)
    result = runner.invoke(app, ["merge", str(manager), str(client), "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [r["hostname"] for r in doc["reports"]] == ["h", "wks01"]
    assert doc["reports"][1]["complete"] is False
    assert "client-manager-https" in doc["gaps"]
    http = next(f for f in doc["flows"] if f["flow"] == "client-manager-http")
    assert http["measured_by"][0]["states"] == {"open": 1}
    only_client = runner.invoke(app, ["merge", str(client)])
    assert only_client.exit_code == 0
    assert "measured by nobody" in only_client.stderr


def write_report(catalogue: Catalogue, tmp_path: Path, name: str, **run: Any) -> Path:
    """A real report, from a plan, a collector and the JSON writer."""
    head, collector = make_run(catalogue, tmp_path, hostname=name, **run)
    path = tmp_path / f"{name}.json"
    write_atomic(path, report_chunks(head, collector.spools))
    collector.close()
    return path


def site(catalogue: Catalogue, *paths: Path) -> SiteView:
    return merge_reports(catalogue, [(p, load_report(p)) for p in paths])


def test_merge_shows_the_port_measured(catalogue: Catalogue, tmp_path: Path) -> None:
    """The topology moved client-manager-http from 8014 to 8015: the site view says 8015."""
    client = write_report(
        catalogue,
        tmp_path,
        "wks01",
        roles=(Role.CLIENT,),
        hosts={Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.1"]},
        ports={"client-manager-http": 8015},
    )
    view = site(catalogue, client)
    http = next(f for f in view.flows if f.entry.id == "client-manager-http")
    assert http.entry.port == 8014
    assert http.ports == [8015]
    assert [m.ports for m in http.measured] == [(8015,)]
    console = Console(width=250, record=True)
    console.print(site_table(view))
    row = next(line for line in console.export_text().splitlines() if "client-manager-http" in line)
    assert "tcp/8015" in row
    assert "8014" not in row
    doc = json.loads(site_json(view))
    flow = next(f for f in doc["flows"] if f["flow"] == "client-manager-http")
    assert flow["ports"] == [8015]
    assert flow["measured_by"][0]["ports"] == [8015]


def test_merge_gaps_are_flows_someone_needed(catalogue: Catalogue, tmp_path: Path) -> None:
    manager = write_report(catalogue, tmp_path, "sepm01")
    # A client whose topology names no manager: its client-to-manager flows are gaps.
    client = write_report(
        catalogue, tmp_path, "wks01", roles=(Role.CLIENT,), hosts={Role.CLIENT: ["198.18.16.1"]}
    )
    view = site(catalogue, manager, client)
    status = {f.entry.id: f for f in view.flows}
    # Left out by the only report that plays their source role, on purpose:
    for flow in (
        "manager-client-push-mac-ssh",  # feature mac_push is not enabled
        "manager-liveupdate-http",  # optional, and the site has no LiveUpdate server
        "client-liveupdate-http",  # feature
    ):
        assert status[flow].status is Status.NOT_APPLICABLE, flow
        assert status[flow] not in view.gaps
    assert "sepm01: feature (" in status["manager-client-push-mac-ssh"].why
    # Required, but the client's topology had no manager to probe:
    https = status["client-manager-https"]
    assert https.status is Status.GAP
    assert "wks01: no manager hosts in the topology" in https.why
    # Nobody ran sepcheck as a remote console:
    console_flow = next(f for f in view.flows if f.entry.source.value == "remote_console")
    assert console_flow.status is Status.GAP
    assert console_flow.why == "no report is from a remote_console host"
    measured = status["manager-client-push-smb"]
    assert measured.status is Status.MEASURED
    assert {f.status for f in view.flows if f.measured} == {Status.MEASURED}
    doc = json.loads(site_json(view))
    assert "manager-client-push-mac-ssh" in doc["not_applicable"]
    assert "manager-client-push-mac-ssh" not in doc["gaps"]
    assert "client-manager-https" in doc["gaps"]
    console = Console(width=250, record=True)
    console.print(site_table(view))
    text = console.export_text()
    main, apart = text.split("not applicable (left out by every report)")
    assert "manager-client-push-mac-ssh" in apart
    assert "manager-client-push-mac-ssh" not in main
    assert "client-manager-https" in main
    summary = site_summary(view)
    assert f"{len(view.gaps)} flows needed but measured by nobody (gaps)" in summary
    assert f"{len(view.not_applicable)} not applicable" in summary


def test_merge_flow_planned_but_not_reached_is_a_gap(catalogue: Catalogue, tmp_path: Path) -> None:
    """Interrupted after its first probe: the push flows were planned for the Windows
    clients (the Mac group is left out by os, which leaves out only some hosts), so each
    flow not measured is a gap, not 'not applicable'."""
    hosts: dict[Role, list[Any]] = {
        Role.MANAGER: ["198.18.2.2"],
        Role.CLIENT: [
            {"hosts": ["198.18.16.1"], "os": "windows"},
            {"hosts": ["198.18.17.1"], "os": "mac"},
        ],
    }
    manager = write_report(catalogue, tmp_path, "sepm01", hosts=hosts, complete=False, measured=1)
    view = site(catalogue, manager)
    status = {f.entry.id: f for f in view.flows}
    assert status["manager-client-push-netbios-ssn"].status is Status.MEASURED
    smb = status["manager-client-push-smb"]
    assert [x.reason for x in smb.excluded] == ["os"]
    assert smb.status is Status.GAP
    assert smb.why == "sepm01: planned, not measured (the run was interrupted)"
    assert site_summary(view).startswith("INTERRUPTED: 1 report,")
