from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepcheck import __version__
from sepcheck.cli import app

Write = Callable[[str, str], Path]
runner = CliRunner()

SITE = """sep_version = "14.3 RU8"
features = ["windows_push"]
[roles.manager]
hosts = ["198.18.2.2"]
[roles.client]
hosts = ["198.18.16.0/20", "fd00:18::5"]
[roles.gup]
hosts = ["198.18.1.20"]
"""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.strip() == f"sepcheck {__version__}"


def test_catalogue_json_and_filters() -> None:
    code, out, _ = run("catalogue", "--format", "json")
    assert code == 0
    everything = json.loads(out)
    assert len(everything) >= 39
    code, out, _ = run("catalogue", "--format", "json", "--protocol", "udp")
    assert {e["port"] for e in json.loads(out)} == {137, 138, 514, 1434}
    code, out, _ = run("catalogue", "--format", "json", "--role", "gup")
    assert [e["id"] for e in json.loads(out)] == ["client-gup-proxy"]
    code, out, _ = run("catalogue", "--format", "json", "--sep-version", "14.3")
    ids = {e["id"] for e in json.loads(out)}
    assert "spc-manager-webservices" not in ids
    assert len(ids) == len(everything) - 3  # SPC (12.1.x) and Content Analysis (14.2.x)


def test_catalogue_table_and_markdown() -> None:
    code, out, _ = run("catalogue", "--role", "syslog")
    assert code == 0
    assert "manager-syslog-forwarding" in out
    assert "udp/514" in out
    assert "client-manager-http" not in out
    code, out, _ = run("catalogue", "--format", "markdown", "--protocol", "udp")
    lines = out.strip().splitlines()
    assert lines[0].startswith("| id | protocol | port |")
    assert len(lines) == 2 + 4  # header, rule, then UDP 137, 138, 514 and 1434
    assert any("`manager-syslog-forwarding` | udp | 514" in line for line in lines)


def test_catalogue_bad_version_is_a_usage_error() -> None:
    code, _, err = run("catalogue", "--sep-version", "fourteen")
    assert code == 2
    assert "--sep-version" in err
    assert "Traceback" not in err


def test_catalogue_user_copy_error(write: Write) -> None:
    path = write("cat.toml", "schema = 1\n[[entry]]\nid = 3\n")
    code, out, err = run("catalogue", "--catalogue", str(path))
    assert code == 2
    assert out == ""
    assert f"{path}:3" in err
    assert "Traceback" not in err


def test_plan_table(write: Write) -> None:
    site = write("site.toml", SITE)
    code, out, err = run("plan", "--topology", str(site), "--as", "manager")
    assert code == 0
    assert "198.18.16.0/20 (4,094 hosts)" in out
    assert "manager-client-push-smb" in out
    # Windows push: 445 to the 4,094 + 1 clients and the GUP (a GUP is a client); the
    # NetBIOS fallbacks to the IPv4 ones only; plus 3 loopback checks on the manager.
    assert "16,384 probes in 7 flows" in err
    assert "not planned to fd00:18::5" in out


def test_plan_json_streams_every_probe(write: Write) -> None:
    site = write("site.toml", SITE)
    code, out, _ = run("plan", "-t", str(site), "--as", "manager", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["total"] == len(doc["probes"])
    assert doc["sep_version"] == "14.3 RU8"
    assert doc["vantage"] == {
        "roles": ["manager"],
        "inferred": False,
        "evidence": None,
        "implied": [],
    }
    smb = [p for p in doc["probes"] if p["flow"] == "manager-client-push-smb"]
    assert len(smb) == 4096
    assert smb[-2] == {
        "flow": "manager-client-push-smb",
        "source": "manager",
        "destination": "client",
        "host": "fd00:18::5",
        "address": "fd00:18::5",
        "protocol": "tcp",
        "port": 445,
        "expect": "reachable",
        "severity": "fail",
        "group": None,
        "also": [],
        "spec": "fd00:18::5",
    }
    assert smb[-1]["host"] == "198.18.1.20"  # the GUP, a client too
    netbios = [p for p in doc["probes"] if p["flow"] == "manager-client-push-netbios-ns"]
    assert len(netbios) == 4095
    assert not any(":" in p["host"] for p in netbios)
    assert {s["flow"] for s in doc["skipped"]} >= {"manager-database-sqlserver"}


def test_plan_json_with_no_probes(write: Write) -> None:
    site = write("site.toml", '[roles.client]\nhosts = ["198.18.1.2"]\n')
    code, out, _ = run("plan", "-t", str(site), "--as", "client", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["probes"] == []
    assert doc["total"] == 0


def test_plan_expand(write: Write) -> None:
    site = write("site.toml", SITE)
    code, out, _ = run("plan", "-t", str(site), "--as", "client", "--expand")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["flow", "destination", "host"]
    assert "client-gup-proxy\tgup\t198.18.1.20\t198.18.1.20\ttcp\t2967\treachable\tfail\t-" in lines


def test_plan_without_as_infers_or_explains(write: Write) -> None:
    site = write("site.toml", SITE)
    code, _, err = run("plan", "-t", str(site))
    # This test host is not in 198.18.0.0/15, so nothing can be inferred.
    assert code == 2
    assert "--as ROLE" in err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (SITE.replace("[roles.gup]", "[roles.gups]"), "unknown role 'gups'"),
        (SITE.replace("198.18.2.2", "198.18.2.299"), "not a valid IPv4 address"),
        (SITE + "[ports]\nmanager-client-push-smb = 1445\n", "not configurable"),
        (SITE + "[ports]\nnope = 1\n", "unknown entry id 'nope'"),
        (SITE.replace("[roles.gup]", "[roles.client]"), "invalid TOML"),
        (SITE.replace("/20", "/12"), "--allow-large-ranges"),
    ],
)
def test_plan_bad_topology_exit_2_one_line(write: Write, text: str, words: str) -> None:
    site = write("site.toml", text)
    code, out, err = run("plan", "-t", str(site), "--as", "client")
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"sepcheck: error: {site}:")
    assert words in err


def test_plan_unknown_role_option() -> None:
    code, _, err = run("plan", "-t", "x.toml", "--as", "sepm")
    assert code == 2
    assert "sepm" in err


def test_plan_missing_topology(tmp_path: Path) -> None:
    code, _, err = run("plan", "-t", str(tmp_path / "none.toml"), "--as", "client")
    assert code == 2
    assert "topology file not found" in err


def test_init_writes_a_working_example(tmp_path: Path) -> None:
    target = tmp_path / "site.toml"
    code, _, _ = run("init", str(target))
    assert code == 0
    assert target.read_text().startswith("# sepcheck topology")
    code, out, _ = run("plan", "-t", str(target), "--as", "client", "--format", "json")
    assert code == 0
    assert json.loads(out)["total"] > 0
    code, _, err = run("init", str(target))
    assert code == 2
    assert "--force" in err
    code, _, _ = run("init", str(target), "--force")
    assert code == 0
