"""`sepcheck init --from-ansible-inventory`: the topology file of an inventory listing,
one host's roles (--roles-of), and the errors, each in one line with exit code 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepcheck.cli import app
from tests.test_inventory import FIXTURES, MANAGERS, exported, listing, toml_of

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_the_topology_that_plan_reads(tmp_path: Path) -> None:
    target = tmp_path / "site.toml"
    source = str(FIXTURES / "export.json")
    code, out, err = invoke("init", "--from-ansible-inventory", source, str(target))
    assert (code, out) == (0, "")
    assert "sepcheck: skipped 1 host without sepcheck_roles: jump01" in err
    assert f"wrote {target}: 8 hosts in 7 host groups" in err
    assert target.read_text(encoding="utf-8") == toml_of(listing("export.json")).replace(
        "inventory.json", source
    )
    code, out, _ = invoke("plan", "-t", str(target), "--as", "client", "--format", "json")
    assert code == 0
    assert json.loads(out)["total"] > 0
    code, _, err = invoke("init", "--from-ansible-inventory", source, str(target))
    assert code == 2
    assert "already exists" in err
    code, _, _ = invoke("init", "--from-ansible-inventory", source, str(target), "--force")
    assert code == 0


def test_init_reads_stdin_and_writes_stdout() -> None:
    text = (FIXTURES / "list.json").read_text(encoding="utf-8")
    code, out, err = invoke("init", "--from-ansible-inventory", "-", "-", stdin=text)
    assert code == 0
    assert out.startswith("# sepcheck topology made by `sepcheck init --from-ansible-inventory`")
    assert "# standard input\n" in out
    assert tomllib.loads(out)["roles"]["gup"][0]["hosts"] == ["198.18.2.10"]
    assert "wrote" not in err


def test_roles_of_prints_a_hosts_roles() -> None:
    source = str(FIXTURES / "list.json")
    code, out, _ = invoke("init", "--from-ansible-inventory", source, "--roles-of", "wks02")
    assert (code, out) == (0, "client remote_console\n")
    code, out, _ = invoke("init", "--from-ansible-inventory", source, "--roles-of", "jump01")
    assert (code, out) == (0, "\n")
    code, out, err = invoke("init", "--from-ansible-inventory", source, "--roles-of", "nope")
    assert (code, out) == (2, "")
    assert err.startswith("sepcheck: error: --roles-of: host 'nope' is not in the inventory\n")
    code, _, err = invoke("init", "--roles-of", "wks02")
    assert code == 2
    assert "--roles-of needs --from-ansible-inventory" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "inv.json: not valid JSON (Expecting value at line 1, column 1)"),
        (
            json.dumps(exported({"m": {**MANAGERS, "vars": {"sepcheck_roles": ["x"]}}})),
            "inv.json: group m: sepcheck_roles[0]: unknown role 'x'",
        ),
        (json.dumps({"web": {"hosts": ["a"]}}), "inv.json: sepcheck_roles: no host has a role"),
        (
            # Checked by the topology loader (the catalogue knows the features), said in
            # the inventory's words.
            json.dumps(exported({"all": {"vars": {"sepcheck_features": ["nope"]}}, "m": MANAGERS})),
            "inv.json: group all: sepcheck_features: unknown feature 'nope'",
        ),
        (
            json.dumps(
                exported({"all": {"vars": {"sepcheck_sep_version": "14.1"}}, "m": MANAGERS})
            ),
            "inv.json: group all: sepcheck_sep_version: ",
        ),
    ],
)
def test_init_errors_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv.json").write_text(text, encoding="utf-8")
    result = runner.invoke(
        app,
        ["init", "--from-ansible-inventory", "inv.json", str(tmp_path / "site.toml")],
        catch_exceptions=False,
        env={"COLUMNS": "300"},
    )
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert lines[0].startswith(f"sepcheck: error: {message}"), lines
    assert len(lines) <= 2  # the error, and its hint
    assert not (tmp_path / "site.toml").exists()


def test_a_missing_inventory_file(tmp_path: Path) -> None:
    code, _, err = invoke("init", "--from-ansible-inventory", str(tmp_path / "none.json"), "-")
    assert code == 2
    assert "inventory file not found" in err
