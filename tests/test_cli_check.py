"""`sepcheck check` on the command line: usage errors, runs on loopback, baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import SITE, Write, run


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "nothing to check"),
        (["--manager", "198.18.2.999"], "not a valid IPv4 address"),
        (["--host", "sepm=198.18.2.2"], "unknown role 'sepm'"),
        (["--host", "manager"], "no host"),
        (["--manager", "198.18.2.2", "-4", "-6"], "exclude each other"),
        (["--manager", "198.18.2.2", "--sep-version", "15"], "major version 15"),
        (["--manager", "198.18.2.2", "--feature", "nope"], "unknown feature 'nope'"),
        (["--manager", "198.18.2.2", "--timeout", "0"], "--timeout"),
        (["--manager", "198.18.2.2", "--output", "/nonexistent/dir/r.json"], "does not exist"),
        (
            ["--manager", "198.18.2.2", "--management-server-list", "ftp"],
            "--management-server-list: unknown value 'ftp'",
        ),
    ],
)
def test_check_usage_errors(args: list[str], words: str) -> None:
    code, _, err = run("check", "--as", "client", *args)
    assert code == 2
    assert words in err
    assert "Traceback" not in err


def test_check_topology_and_host_options_do_not_mix(write: Write) -> None:
    site = write("site.toml", SITE)
    code, _, err = run("check", "-t", str(site), "--as", "client", "--manager", "198.18.2.2")
    assert code == 2
    assert "cannot be mixed" in err


def test_check_on_loopback_writes_the_report(
    loopback_manager: int, tmp_path: Path, spool_dir: Path
) -> None:
    report_path = tmp_path / "report.json"
    code, out, err = run(
        "check", "--as", "client", "--manager", "127.0.0.1", "--output", str(report_path)
    )
    # 8014 answers, 443 is refused: alternatives, so the client reaches its manager.
    assert code == 0
    report = json.loads(report_path.read_text())
    flows = {f["flow"]: f for f in report["summary"]["flow_results"]}
    assert flows["client-manager-http"]["verdict"] == "pass"
    assert flows["client-manager-https"]["verdict"] == "pass"
    assert flows["client-manager-https"]["states"] == {"refused": 1}
    https = next(r for r in report["results"] if r["flow"] == "client-manager-https")
    assert https["group"] == "client-manager"
    assert https["note"].startswith("not needed: client-manager-http (tcp/8014) works")
    [group] = report["summary"]["groups"]
    assert (group["group"], group["verdict"]) == ("client-manager", "pass")
    assert "client-manager-http (tcp/8014) for 1 of 1 host" in group["note"]
    assert "client-manager-http" in out
    assert err.strip().splitlines()[-1].startswith("PASS:")
    code, out, _ = run(
        "check",
        "--as",
        "client",
        "--manager",
        "127.0.0.1",
        "--stage",
        "pre-install",
        "--format",
        "json",
    )
    assert code == 0
    report = json.loads(out)
    assert report["verdict"] == "pass"
    assert report["parameters"]["stage"] == "pre-install"
    assert not list(spool_dir.glob(".sepcheck-*"))


def test_workers_give_the_same_report(tmp_path: Path, spool_dir: Path) -> None:
    """Split over worker processes, a run reports exactly what one process reports."""
    reports = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        code, _, err = run(
            "check",
            "--as",
            "manager",
            "--client",
            "127.0.0.0/28",
            "--workers",
            workers,
            "--output",
            str(out),
            "--no-progress",
        )
        assert code == 1, err
        reports.append(json.loads(out.read_text()))
    one, two = reports
    key = lambda r: (r["flow"], r["address"], r["state"], r["reason"], r["verdict"])  # noqa: E731
    assert sorted(map(key, one["results"])) == sorted(map(key, two["results"]))
    assert one["summary"]["states"] == two["summary"]["states"]
    assert one["summary"]["probes"] == two["summary"]["probes"] == len(two["results"])
    flows_one = {
        f["flow"]: (f["verdict"], f["states"], f["worst_more"] + len(f["worst"]))
        for f in one["summary"]["flow_results"]
    }
    flows_two = {
        f["flow"]: (f["verdict"], f["states"], f["worst_more"] + len(f["worst"]))
        for f in two["summary"]["flow_results"]
    }
    assert flows_one == flows_two
    assert not list(spool_dir.glob(".sepcheck-*"))


def test_baseline_options_are_checked_before_probing(tmp_path: Path) -> None:
    code, _, err = run(
        "check", "--as", "client", "--manager", "198.18.2.2", "--fail-on", "regression"
    )
    assert code == 2
    assert "--baseline" in err
    bad = tmp_path / "base.json"
    bad.write_text('{"schema_version": 1, "results": [')
    code, out, err = run(
        "check", "--as", "client", "--manager", "198.18.2.2", "--baseline", str(bad)
    )
    assert code == 2
    assert "truncated" in err
    assert out == ""  # nothing was probed


def test_check_quick_mode_takes_the_management_server_list(
    loopback_manager: int, tmp_path: Path
) -> None:
    """8014 answers, 443 does not: a site whose clients use HTTPS only fails."""
    report_path = tmp_path / "report.json"
    code, _, err = run(
        "check",
        "--as",
        "client",
        "--manager",
        "127.0.0.1",
        "--management-server-list",
        "https",
        "--output",
        str(report_path),
    )
    assert code == 1, err
    report = json.loads(report_path.read_text())
    flows = {f["flow"]: f["verdict"] for f in report["summary"]["flow_results"]}
    assert flows["client-manager-https"] == "fail"
    assert "client-manager-http" not in flows


def test_nothing_to_show_is_not_a_crash(write: Write) -> None:
    code, out, err = run("catalogue", "--role", "syslog", "--protocol", "tcp")
    assert code == 0, err
    assert "0 of" in out
    site = write("site.toml", SITE)
    code, out, err = run("check", "-t", str(site), "--as", "syslog", "--no-progress")
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("NOTHING CHECKED: 0 flows")
    assert out == ""  # no empty table: the summary line says it all


@pytest.mark.parametrize(("text", "roles"), [("", ["client"]), (SITE, ["syslog"])])
def test_nothing_probed_is_not_a_pass(
    write: Write, tmp_path: Path, text: str, roles: list[str]
) -> None:
    """A blank topology (an empty ConfigMap) or a role with no flows: not a healthy site."""
    site = write("site.toml", text)
    report = tmp_path / "r.json"
    args = [a for role in roles for a in ("--as", role)]
    code, _, err = run("check", "-t", str(site), *args, "--no-progress", "-o", str(report))
    assert code == 1, err
    assert json.loads(report.read_text())["verdict"] == "fail"
    last = err.strip().splitlines()[-1]
    assert last.startswith("NOTHING CHECKED: 0 flows")
    assert "has nothing to probe on this site" in last
    # Not even in change windows that accept known failures.
    baseline = tmp_path / "baseline.json"
    baseline.write_text(report.read_text())
    code, _, err = run(
        "check",
        "-t",
        str(site),
        *args,
        "--no-progress",
        "--baseline",
        str(baseline),
        "--fail-on",
        "regression",
    )
    assert code == 1, err


def test_baseline_previous_needs_json_among_the_dir_formats(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    code, _, err = run(
        "check", "--as", "client", "--manager", "127.0.0.1", "--output-dir", str(out),
        "--output-dir-format", "html", "--baseline", "previous",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == (
        "sepcheck: error: --baseline previous compares with the last JSON report in "
        "--output-dir, but --output-dir-format writes no json (only html)"
    )
    assert err.splitlines()[1] == "  hint: add --output-dir-format json"
    assert not any(out.iterdir())  # refused before probing


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--manager", ""], '--manager "": empty host'),
        (["--manager", "198.18.2.2", "--client", "a b"], "--client \"a b\": 'a b' is not"),
        (["--manager", "198.18.2.2", "--host", "manager=a b"], '--host "manager=a b": '),
    ],
)
def test_quick_option_host_errors_name_the_option(args: list[str], words: str) -> None:
    code, _, err = run("check", "--as", "client", *args)
    assert code == 2
    assert err.startswith(f"sepcheck: error: {words}"), err


def test_host_options_win_over_the_topology_variable(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sepcheck.cli import app

    env = {"SEPCHECK_TOPOLOGY": str(tmp_path / "missing.toml")}
    args = ["check", "--as", "client", "--manager", "", "--no-progress"]
    result = CliRunner().invoke(app, args, env=env)
    # The command line's --manager is read (its error), not the variable's file.
    assert result.exit_code == 2
    assert result.stderr.startswith('sepcheck: error: --manager "": empty host'), result.stderr
    # Settings alone describe no site: the variable's topology stays, and the mix is named.
    result = CliRunner().invoke(app, ["check", "--sep-version", "14.3", "--feature", "x"], env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "sepcheck: error: --feature and --sep-version cannot be mixed with --topology"
    ), result.stderr
