"""`sepcheck merge` for a fleet run: hosts whose check did not run (--missing), the exit
code (--fail-on) and the site view's files (-o .json / .html)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue
from sepcheck.cli import app
from sepcheck.listen.report import ListenReport
from sepcheck.merge import MissingHost, SiteView, Status, merge_reports
from sepcheck.model import Expect, Role
from sepcheck.plan import Probe
from sepcheck.render.merge import site_headline, site_json, site_summary, site_table
from sepcheck.render.site_html import site_html
from sepcheck.report.load import load_report
from sepcheck.results import State
from tests.test_merge import write_report

runner = CliRunner()
SITE: dict[Role, list[Any]] = {
    Role.MANAGER: ["198.18.2.2"],
    Role.CLIENT: ["198.18.16.1"],
    Role.GUP: ["198.18.17.1"],
}
REFUSED = "unreachable: ssh: connect to host 198.18.2.2 port 22: Connection refused"


def healthy(index: int, probe: Probe) -> State:
    """Every flow as expected: what must not reach is filtered, the rest open."""
    return State.FILTERED if probe.expect is Expect.UNREACHABLE else State.OPEN


def warned(index: int, probe: Probe) -> State:
    """Healthy, but the NetBIOS fallbacks of push deployment (warnings) are filtered."""
    return State.FILTERED if "netbios" in probe.flow else healthy(index, probe)


def report(catalogue: Catalogue, tmp_path: Path, name: str, role: Role, **run: Any) -> Path:
    return write_report(
        catalogue, tmp_path, name, roles=(role,), hosts=SITE, **{"state": healthy, **run}
    )


def view_of(catalogue: Catalogue, paths: list[Path], missing: list[MissingHost]) -> SiteView:
    return merge_reports(catalogue, [(p, load_report(p)) for p in paths], missing=missing)


def text_of(view: SiteView) -> str:
    console = Console(width=400, record=True)
    console.print(site_table(view))
    return console.export_text()


def test_a_missing_manager_makes_its_flows_gaps(catalogue: Catalogue, tmp_path: Path) -> None:
    """The manager could not be reached: nobody measured its flows, so each is a gap
    with the reason; the clients' flows stay measured; the view is not a pass."""
    client = report(catalogue, tmp_path, "wks01", Role.CLIENT)
    missing = [MissingHost("sepm01", (Role.MANAGER,), REFUSED)]
    view = view_of(catalogue, [client], missing)
    flows = {f.entry.id: f for f in view.flows}
    smb = flows["manager-client-push-smb"]
    assert smb.status is Status.GAP
    assert smb.why == f"not measured from sepm01: {REFUSED}"
    assert smb.missing == missing
    http = flows["client-manager-http"]
    assert http.status is Status.MEASURED
    assert http.missing == []
    assert not view.failing
    assert site_headline(view) == "INCOMPLETE"
    assert site_summary(view).endswith(", 1 host not measured: sepm01")
    text = text_of(view)
    row = next(line for line in text.splitlines() if "manager-client-push-smb" in line)
    assert f"not measured from sepm01: {REFUSED}" in row
    assert "not measured: not measured" not in text
    apart = text.split("hosts not measured (their check did not run)")[1]
    assert "sepm01" in apart
    assert REFUSED in apart
    doc = json.loads(site_json(view))
    assert doc["missing"] == [{"host": "sepm01", "roles": ["manager"], "reason": REFUSED}]
    flow = next(f for f in doc["flows"] if f["flow"] == "manager-client-push-smb")
    assert (flow["status"], flow["missing"]) == ("gap", [{"host": "sepm01", "reason": REFUSED}])
    assert "manager-client-push-smb" in doc["gaps"]


def test_a_missing_host_of_a_measured_role(catalogue: Catalogue, tmp_path: Path) -> None:
    """Another client measured the client flows: they stay measured, with a line saying
    which host did not measure them; a flow the client reports left out on purpose stays
    not applicable (the missing client had the same topology). A missing GUP counts for
    the client flows too (a GUP checks them)."""
    manager = report(catalogue, tmp_path, "sepm01", Role.MANAGER)
    client = report(catalogue, tmp_path, "wks01", Role.CLIENT)
    wks02 = MissingHost("wks02", (Role.CLIENT,), "sepcheck failed to install: no pip")
    gup = MissingHost("gup01", (Role.GUP,), "unreachable")
    view = view_of(catalogue, [manager, client], [wks02, gup])
    flows = {f.entry.id: f for f in view.flows}
    http = flows["client-manager-http"]
    assert http.status is Status.MEASURED
    assert http.missing == [wks02, gup]
    liveupdate = flows["client-liveupdate-http"]
    assert liveupdate.status is Status.NOT_APPLICABLE
    assert liveupdate.missing == [wks02, gup]
    assert flows["manager-client-push-smb"].missing == []
    text = text_of(view)
    row = next(line for line in text.splitlines() if "client-manager-http " in line)
    assert "wks01 as client: pass" in row
    lines = text.splitlines()
    at = lines.index(row)
    assert "not measured from wks02: sepcheck failed to install: no pip" in lines[at + 1]
    assert "not measured from gup01: unreachable" in lines[at + 2]
    assert site_headline(view) == "INCOMPLETE"


def test_failing_and_missing(catalogue: Catalogue, tmp_path: Path) -> None:
    client = report(catalogue, tmp_path, "wks01", Role.CLIENT, state=lambda i, p: State.OPEN)
    view = view_of(catalogue, [client], [MissingHost("sepm01", (Role.MANAGER,), "down")])
    assert view.failing
    assert site_headline(view) == "FAIL (INCOMPLETE)"


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["merge", *args], env={"COLUMNS": "300"})
    return result.exit_code, result.stdout, result.stderr


def missing_file(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_cli_missing_exits_1_and_lists_them(catalogue: Catalogue, tmp_path: Path) -> None:
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER))
    client = str(report(catalogue, tmp_path, "wks01", Role.CLIENT))
    code, out, err = cli(manager, client, "--format", "json")
    assert code == 0  # the same reports, nobody missing: a pass
    assert err.startswith("PASS: 2 reports")
    assert json.loads(out)["missing"] == []
    gone = [{"host": "gup01", "roles": ["gup"], "reason": REFUSED}]
    code, out, err = cli(manager, client, "--missing", missing_file(tmp_path, gone), "-f", "json")
    assert code == 1
    assert err.startswith("INCOMPLETE: 2 reports")
    assert "1 host not measured: gup01" in err
    assert json.loads(out)["missing"] == gone


def test_cli_writes_the_site_view_files(catalogue: Catalogue, tmp_path: Path) -> None:
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER))
    gone = [{"host": "<script>wks02</script>", "roles": ["client"], "reason": "a & b <i>"}]
    out_dir = tmp_path / "site"
    out_dir.mkdir()
    json_path, html_path = out_dir / "site.json", out_dir / "Site.HTML"
    code, out, _ = cli(
        manager,
        "--missing",
        missing_file(tmp_path, gone),
        "-o",
        str(json_path),
        "--output",
        str(html_path),
        "-f",
        "json",
    )
    assert code == 1
    assert json.loads(json_path.read_text(encoding="utf-8")) == json.loads(out)
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<h1 id="verdict" class="warn">sepcheck site view: INCOMPLETE</h1>' in page
    assert "<script>" not in page  # every text from the fleet is escaped
    assert "&lt;script&gt;wks02&lt;/script&gt;" in page
    assert "not measured from &lt;script&gt;wks02&lt;/script&gt;: a &amp; b &lt;i&gt;" in page
    assert "http://" not in page  # self-contained
    assert "https://" not in page
    smb = next(line for line in page.splitlines() if 'data-flow="manager-client-push-smb"' in line)
    assert "sepm01 as manager: pass (2 open)" in smb  # the client and the GUP
    assert sorted(p.name for p in out_dir.iterdir()) == ["Site.HTML", "site.json"]  # no temp


def responder(hostname: str) -> ListenReport:
    """A `sepcheck listen` report of a manager that received one probe on 8014."""
    when = "2026-01-05T10:00:00.000Z"
    source = {"address": "198.18.16.1", "port": 40000}
    return ListenReport.model_validate(
        {
            "tool_version": "0.0.test",
            "hostname": hostname,
            "started": when,
            "finished": when,
            "complete": True,
            "stopped_by": None,
            "duration": 60.0,
            "fingerprint": "f" * 12,
            "listening": [{"protocol": "tcp", "port": 8014, "families": ["ipv4"]}],
            "skipped": [{"protocol": "tcp", "port": 443, "reason": "in_use", "why": "<busy>"}],
            "counts": {"probe": 1},
            "events": [
                {
                    "time": when,
                    "protocol": "tcp",
                    "port": 8014,
                    "source": source,
                    "what": "probe",
                    "aimed": 8014,
                    "answered": True,
                }
            ],
            "events_left_out": 0,
            "ignored": [],
            "refused_busy": 0,
        }
    )


def probed_with_token(path: Path, fingerprint: str, seen: dict[str, str | None]) -> Path:
    """The report at ``path`` as `check --responder-token` writes it: the token's
    fingerprint, and a responder's finding on the results of the flows in ``seen`` (with
    the source the responder saw, or None when it never answered)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["parameters"]["responder"] = fingerprint
    for item in data["results"]:
        if item["flow"] in seen:
            where = seen[item["flow"]]
            item["app"] = {
                "check": "sepcheck-responder",
                "service": "sepcheck responder",
                "ok": where is not None,
                "detail": "d",
                "read": {"seen_as": where} if where else {},
                "tls": None,
            }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_page_shows_gaps_responders_and_not_applicable(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    client = probed_with_token(
        report(catalogue, tmp_path, "wks01", Role.CLIENT),
        "f" * 12,
        {"client-manager-http": "198.18.16.1:40000", "client-manager-https": None},
    )
    missing = [
        MissingHost("sepm01", (Role.MANAGER,), REFUSED),
        MissingHost("wks02", (Role.CLIENT,), "timed out"),
    ]
    view = merge_reports(
        catalogue,
        [(client, load_report(client))],
        [(tmp_path / "listen.json", responder("sepm01-listen"))],
        missing,
    )
    page = site_html(view)
    http = next(line for line in page.splitlines() if 'data-flow="client-manager-http"' in line)
    assert (
        "responder on sepm01-listen: received 1 of the 1 probe with its token, from 198.18.16.1"
        in http
    )
    assert "<td>not measured from wks02: timed out</td>" in http
    https = next(line for line in page.splitlines() if 'data-flow="client-manager-https"' in line)
    assert "responder on sepm01-listen: not listening (&lt;busy&gt;)" in https
    assert "<td>sepm01-listen</td><td>responder</td>" in page
    smb = next(line for line in page.splitlines() if 'data-flow="manager-client-push-smb"' in line)
    assert smb.startswith('<tr class="gap"')
    assert f"not measured from sepm01: {REFUSED}" in smb
    apart = page.split('<table id="not-applicable">')[1]
    assert "client-liveupdate-http" in apart
    assert '<table id="missing">' in page
    gaps = page.count('<tr class="gap"')
    assert gaps == len(view.gaps)


def test_fail_on_warning(catalogue: Catalogue, tmp_path: Path) -> None:
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER, state=warned))
    code, _, err = cli(manager)
    assert code == 0
    assert err.startswith("PASS: 1 report, 4 pass, 3 warn, 0 fail")
    code, _, err = cli(manager, "--fail-on", "warning")
    assert code == 1
    assert err.startswith("FAIL (--fail-on warning): 1 report")
    code, _, _ = cli(manager, "--fail-on", "failure")
    assert code == 0
    healthy_manager = str(report(catalogue, tmp_path, "sepm02", Role.MANAGER))
    code, _, _ = cli(healthy_manager, "--fail-on", "warning")
    assert code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[", "not valid JSON (Expecting value at line 1, column 2)"),
        ({"host": "a"}, "must be a list of the hosts whose check did not run"),
        (["a"], "[0]: must be an object with host, roles and reason"),
        ([{"roles": [], "reason": ""}], "[0].host: must be the host's name"),
        ([{"host": "a", "roles": "client", "reason": ""}], "[0].roles: must be a list"),
        ([{"host": "a", "roles": ["cleint"], "reason": ""}], "[0].roles[0]: unknown role"),
        ([{"host": "a", "roles": []}], "[0].reason: must be a text"),
    ],
)
def test_bad_missing_files(
    catalogue: Catalogue, tmp_path: Path, content: Any, message: str
) -> None:
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER))
    path = tmp_path / "missing.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    code, out, err = cli(manager, "--missing", str(path))
    lines = err.strip().splitlines()
    assert (code, out) == (2, "")
    assert lines[0].startswith(f"sepcheck: error: {path}: {message}"), lines
    assert len(lines) == 2  # the error and its hint


def test_a_missing_file_that_is_not_there(catalogue: Catalogue, tmp_path: Path) -> None:
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER))
    code, _, err = cli(manager, "--missing", str(tmp_path / "none.json"))
    assert code == 2
    assert "--missing file not found" in err


def test_an_output_of_unknown_kind(catalogue: Catalogue, tmp_path: Path) -> None:
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER))
    code, out, err = cli(manager, "-o", str(tmp_path / "site.xml"))
    assert (code, out) == (2, "")
    assert "unknown extension .xml" in err
    assert not (tmp_path / "site.xml").exists()


def test_an_output_that_cannot_be_written(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file that cannot be written costs neither the others nor stdout: it is said,
    and the exit code is 2."""
    manager = str(report(catalogue, tmp_path, "sepm01", Role.MANAGER))
    import sepcheck.report.writer as writer

    real = writer.write_atomic

    def full(path: Path, chunks: Any) -> None:
        if path.suffix == ".html":
            raise OSError(28, "No space left on device")
        real(path, chunks)

    monkeypatch.setattr(writer, "write_atomic", full)
    html, data = tmp_path / "site.html", tmp_path / "site.json"
    code, out, err = cli(manager, "-o", str(html), "-o", str(data))
    assert code == 2
    assert "site view" in out
    assert f"sepcheck: error: site view {html} not written: No space left on device" in err
    assert data.exists()


def test_a_responder_counts_only_the_probes_of_its_token_and_flow(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Probe by probe, through the source the responder saw: another flow's probes to
    the same port, a probe it never received, and a report of another token never count."""
    listen = responder("sepm01-listen")
    matched = probed_with_token(
        report(catalogue, tmp_path, "wks01", Role.CLIENT),
        listen.fingerprint,
        {"client-manager-http": "198.18.16.1:40000"},
    )
    view = merge_reports(
        catalogue, [(matched, load_report(matched))], [(tmp_path / "l.json", listen)]
    )
    flows = {f.entry.id: f for f in view.flows}
    (seen,) = flows["client-manager-http"].responders
    assert (seen.probes, seen.asked, seen.sources) == (1, 1, ("198.18.16.1",))
    # The exposure flows to 8014's neighbours, probed without the token: nothing.
    assert all(not f.responders for k, f in flows.items() if k != "client-manager-http")
    unseen = probed_with_token(
        report(catalogue, tmp_path, "wks02", Role.CLIENT),
        listen.fingerprint,
        {"client-manager-http": "198.18.16.9:40000"},
    )
    view = merge_reports(
        catalogue, [(unseen, load_report(unseen))], [(tmp_path / "l.json", listen)]
    )
    (never,) = next(f for f in view.flows if f.entry.id == "client-manager-http").responders
    assert (never.probes, never.asked) == (0, 1)
    other = probed_with_token(
        report(catalogue, tmp_path, "wks03", Role.CLIENT),
        "0" * 12,
        {"client-manager-http": "198.18.16.1:40000"},
    )
    view = merge_reports(catalogue, [(other, load_report(other))], [(tmp_path / "l.json", listen)])
    assert all(not f.responders for f in view.flows)
    assert "a token no prober report used" in site_summary(view)


def test_every_host_lost_still_gives_a_site_view(tmp_path: Path) -> None:
    """No host could run its check: the playbook calls merge with --missing alone; the
    view lists them and is never a pass; with nothing at all it is a usage error."""
    gone = [{"host": "gup01", "roles": ["gup"], "reason": "unreachable: refused"}]
    page = tmp_path / "site.html"
    code, out, _ = cli("--missing", missing_file(tmp_path, gone), "-f", "json", "-o", str(page))
    assert code == 1
    assert json.loads(out)["missing"] == gone
    assert "unreachable: refused" in page.read_text(encoding="utf-8")
    code, _, err = cli()
    assert code == 2
    assert "nothing to merge" in err


def test_the_collection_version_is_the_tools() -> None:
    import re

    from sepcheck import __version__

    galaxy = (Path(__file__).resolve().parents[1] / "ansible" / "galaxy.yml").read_text()
    found = re.search(r"^version:\s*(\S+)\s*$", galaxy, re.MULTILINE)
    assert found is not None
    assert found.group(1).strip("\"'") == __version__
