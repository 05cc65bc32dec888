"""Merging reports from several vantage points into one site view."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue
from sepcheck.cli import app
from sepcheck.merge import merge_reports
from sepcheck.report.load import load_report
from sepcheck.report.writer import report_chunks, write_atomic
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
