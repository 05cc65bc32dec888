from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepcheck.catalogue import Catalogue, load_catalogue
from sepcheck.cli import app
from sepcheck.data import data_dir
from sepcheck.errors import CatalogueError, Location, TopologyError
from sepcheck.hosts import FileSpec
from sepcheck.model import HostOS, Role
from sepcheck.tomlsrc import MAX_INPUT_BYTES
from sepcheck.topology import load_topology, topology_from_hosts
from sepcheck.versions import parse_version

Write = Callable[[str, str], Path]
runner = CliRunner()

BASE = """sep_version = "14.3 RU8"
features = ["sql_server_database"]

[roles.manager]
hosts = ["sepm01.example.test"]

[roles.client]
hosts = [
    "198.18.1.0/28",
    "198.18.3.5-198.18.3.9",
    "fd00:18::5",
]

[ports]
client-manager-http = 80
"""


def test_example_topology_loads(catalogue: Catalogue) -> None:
    topology = load_topology(data_dir("examples") / "site.toml", catalogue)
    assert topology.sep_version == parse_version("14.3 RU8")
    assert topology.host_count(Role.CLIENT) == 14 + 5 + 1 + 3
    assert sum(spec.count for spec in topology.hosts(Role.CLIENT, HostOS.MAC)) == 3
    assert topology.features == {"sql_server_database", "windows_push", "mac_push"}
    assert topology.settings == {"management_server_list": ("https", "http")}
    assert len(topology.digest) == 64


def test_contract_example(write: Write, catalogue: Catalogue) -> None:
    topology = load_topology(write("site.toml", BASE), catalogue)
    assert topology.host_count(Role.CLIENT) == 20
    entry = catalogue.get("client-manager-http")
    assert entry is not None
    assert topology.port_for(entry) == 80
    https = catalogue.get("client-manager-https")
    assert https is not None
    assert topology.port_for(https) == 443


def test_port_from_follows_the_override(write: Write, catalogue: Catalogue) -> None:
    text = BASE.replace("client-manager-http = 80", "manager-manager-launcher = 9447")
    topology = load_topology(write("site.toml", text), catalogue)
    exposure = catalogue.get("client-manager-launcher-exposure")
    assert exposure is not None
    assert topology.port_for(exposure) == 9447


def test_host_files_are_relative_to_the_topology(write: Write, catalogue: Catalogue) -> None:
    write("clients.txt", "198.18.4.0/24\n198.18.5.1\n")
    text = BASE + '\n[roles.gup]\nhost_files = ["clients.txt"]\n'
    topology = load_topology(write("site.toml", text), catalogue)
    assert topology.host_count(Role.GUP) == 255
    assert isinstance(topology.hosts(Role.GUP)[0], FileSpec)


@pytest.mark.parametrize(
    ("change", "line", "key", "words"),
    [
        (
            ("[roles.client]", "[roles.clients]"),
            7,
            "roles.clients",
            ["unknown role 'clients'", "did you mean 'client'"],
        ),
        (
            ('"198.18.1.0/28"', '"198.18.1.300"'),
            9,
            "roles.client.hosts[0]",
            ["198.18.1.300", "not a valid IPv4 address"],
        ),
        (('"fd00:18::5"', '"fd00:18::zz"'), 11, "roles.client.hosts[2]", ["IPv6"]),
        (
            ("client-manager-http = 80", "client-manager-htp = 80"),
            15,
            "ports.client-manager-htp",
            ["unknown entry id", "did you mean 'client-manager-http'"],
        ),
        (
            ("client-manager-http = 80", "manager-client-push-smb = 4445"),
            15,
            "ports.manager-client-push-smb",
            ["not configurable"],
        ),
        (
            ("client-manager-http = 80", "client-manager-launcher-exposure = 1"),
            15,
            "ports.client-manager-launcher-exposure",
            ["follows the port"],
        ),
        (
            ("client-manager-http = 80", "client-manager-http = 70000"),
            15,
            "ports.client-manager-http",
            ["out of range"],
        ),
        (
            ("client-manager-http = 80", 'client-manager-http = "80"'),
            15,
            "ports.client-manager-http",
            ["must be a whole number", "without quotes"],
        ),
        (('"14.3 RU8"', '"14.3 RU"'), 1, "sep_version", ["cannot read SEP version"]),
        (
            ('"sql_server_database"', '"sql_server"'),
            2,
            "features",
            ["unknown feature 'sql_server'", "did you mean 'sql_server_database'"],
        ),
        (("sep_version", "colour = 1\nsep_version"), 1, "colour", ["unknown key 'colour'"]),
        (
            ('hosts = ["sepm01.example.test"]', 'hosts = ["sepm01.example.test"]\nport = 1'),
            6,
            "roles.manager.port",
            ["unknown key 'port'"],
        ),
        (
            ('"198.18.1.0/28"', '"198.18.0.0/16"'),
            9,
            "roles.client.hosts[0]",
            ["65,534 addresses", "--allow-large-ranges"],
        ),
        (('hosts = ["sepm01.example.test"]', "hosts = []"), 4, "roles.manager", ["no hosts"]),
        (("[ports]", "[ports]\nclient-manager-http = 81"), 16, None, ["invalid TOML"]),
        (
            ('hosts = ["sepm01.example.test"]', 'hosts = "sepm01"'),
            5,
            "roles.manager.hosts",
            ["must be a list", "square brackets"],
        ),
        (
            ('"sql_server_database"', '"sql_server_database", "embedded_database"'),
            2,
            "features",
            ["exclude each other", "one database"],
        ),
        (
            ('"sql_server_database"', '"sql_server_named_instance"'),
            2,
            "features",
            ["needs feature 'sql_server_database'"],
        ),
        (
            ('"14.3 RU8"', '"14.3 RU8"\nmanagement_server_list = ["http", "ftp"]'),
            2,
            "management_server_list[1]",
            ["unknown value 'ftp'", "'http' and/or 'https'"],
        ),
        (
            ('"14.3 RU8"', '"14.3 RU8"\nmanagement_server_list = []'),
            2,
            "management_server_list",
            ["is empty", "default of the site's version"],
        ),
        (
            ('hosts = ["sepm01.example.test"]', 'hosts = ["sepm01.example.test"]\nos = "beos"'),
            6,
            "roles.manager.os",
            ["'windows', 'mac' or 'linux'"],
        ),
        (('"14.3 RU8"', '"14.3.1"'), 1, "sep_version", ["no third number", "14.3 RU1"]),
        (('"14.3 RU8"', '"11.0 RU7"'), 1, "sep_version", ["12.1 and 14.x"]),
    ],
)
def test_bad_topologies_are_located(
    write: Write,
    catalogue: Catalogue,
    change: tuple[str, str],
    line: int,
    key: str | None,
    words: list[str],
) -> None:
    path = write("site.toml", BASE.replace(*change, 1))
    with pytest.raises(TopologyError) as info:
        load_topology(path, catalogue)
    error = info.value
    text = str(error) + " " + (error.hint or "")
    for word in words:
        assert word in text, text
    assert error.location is not None
    assert error.location.path == path
    assert error.location.line == line, text
    if key is not None:
        assert error.location.key == key


def test_large_block_allowed_with_flag(write: Write, catalogue: Catalogue) -> None:
    path = write("site.toml", BASE.replace('"198.18.1.0/28"', '"198.18.0.0/16"'))
    topology = load_topology(path, catalogue, allow_large=True)
    assert topology.host_count(Role.CLIENT) == 65534 + 6


def test_bad_line_in_hosts_file(write: Write, catalogue: Catalogue) -> None:
    hosts = write("clients.txt", "198.18.4.1\n# next is wrong\n198.18.4.256\n")
    text = BASE + '\n[roles.gup]\nhost_files = ["clients.txt"]\n'
    with pytest.raises(TopologyError) as info:
        load_topology(write("site.toml", text), catalogue)
    assert info.value.location is not None
    assert info.value.location.path == hosts.resolve()
    assert info.value.location.line == 3


def test_missing_hosts_file(write: Write, catalogue: Catalogue) -> None:
    text = BASE + '\n[roles.gup]\nhost_files = ["nope.txt"]\n'
    with pytest.raises(TopologyError, match="cannot read hosts file") as info:
        load_topology(write("site.toml", text), catalogue)
    assert info.value.location is not None
    assert info.value.location.key == "roles.gup.host_files[0]"
    assert info.value.hint == "host_files paths are relative to the topology file's folder"


def test_missing_file_and_not_utf8(tmp_path: Path, catalogue: Catalogue) -> None:
    with pytest.raises(TopologyError, match="not found"):
        load_topology(tmp_path / "nope.toml", catalogue)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(TopologyError, match="not UTF-8"):
        load_topology(bad, catalogue)


def test_from_command_line_hosts(catalogue: Catalogue) -> None:
    topology = topology_from_hosts(
        {Role.MANAGER: ["198.18.2.2"], Role.GUP: ["198.18.2.3", "198.18.2.4"]}, catalogue
    )
    assert topology.path is None
    assert topology.host_count(Role.GUP) == 2
    with pytest.raises(TopologyError, match="not a valid IPv4"):
        topology_from_hosts({Role.MANAGER: ["198.18.2.999"]}, catalogue)


def test_host_groups_carry_an_os(write: Write, catalogue: Catalogue) -> None:
    text = """
[roles.manager]
hosts = ["198.18.2.2"]

[[roles.client]]
description = "Office PCs"
hosts = ["198.18.1.0/28"]

[[roles.client]]
description = "Design team Macs"
os = "mac"
hosts = ["198.18.4.10", "198.18.4.11"]
"""
    topology = load_topology(write("site.toml", text), catalogue)
    assert topology.host_count(Role.CLIENT) == 16
    assert [s.text for s in topology.hosts(Role.CLIENT, HostOS.MAC)] == [
        "198.18.4.10",
        "198.18.4.11",
    ]
    # Untagged groups take Windows push (most clients); Mac push needs the tag.
    assert [s.text for s in topology.hosts(Role.CLIENT, HostOS.WINDOWS)] == ["198.18.1.0/28"]
    bad = text.replace('"198.18.4.11"', '"198.18.4.300"')
    with pytest.raises(TopologyError) as info:
        load_topology(write("site.toml", bad), catalogue)
    assert info.value.location is not None
    assert info.value.location.key == "roles.client[1].hosts[1]"
    assert info.value.location.line == 12
    assert "_RoleDoc" not in str(info.value) + str(info.value.detail)


def test_an_unknown_role_in_host_groups_is_located(write: Write, catalogue: Catalogue) -> None:
    text = '[roles.manager]\nhosts = ["198.18.2.2"]\n[[roles.clients]]\nhosts = ["198.18.1.1"]\n'
    with pytest.raises(TopologyError) as info:
        load_topology(write("site.toml", text), catalogue)
    assert info.value.location is not None
    assert info.value.location.line == 3
    assert info.value.hint == "did you mean 'client'?"


def test_a_table_of_tables_for_one_role_is_read_as_host_groups(
    write: Write, catalogue: Catalogue
) -> None:
    text = '[[roles.manager]]\nhosts = ["198.18.2.2"]\nport = 1\n'
    with pytest.raises(TopologyError) as info:
        load_topology(write("site.toml", text), catalogue)
    message = str(info.value)
    assert "unknown key 'port'" in message
    assert "roles.manager[0].port" in message
    assert "_RoleDoc" not in message
    assert "list[" not in message


# Bad input (issue 12). The topology and the catalogue are read by the same function
# (tomlsrc.load_toml), so the reading cases check both loaders.

ROOT = Path(__file__).resolve().parents[1]
DEPTH = 3000


def _cli(*args: str) -> tuple[int, list[str]]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stderr.splitlines()


def _one_line_error(code: int, lines: list[str]) -> None:
    assert code == 2
    assert lines, "no error printed"
    assert lines[0].startswith("sepcheck: error: "), lines
    assert lines[1].startswith("  hint: "), lines
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("x = " + "[" * DEPTH + "]" * DEPTH + "\n", 1, None),
        ("name = 'a'\nx = " + "{a = " * DEPTH + "1" + "}" * DEPTH + "\n", 2, None),
        ("x = " + "[" * 40 + "]" * 40 + "\n", 1, "x"),
        ("[" + ".".join(["roles"] * DEPTH) + "]\n", 1, "roles"),
        ("a" + ".a" * DEPTH + " = 1\n", 1, "a"),
    ],
    ids=["arrays", "inline-tables", "arrays-40", "table-header", "dotted-key"],
)
def test_deeply_nested_toml_is_one_error(
    write: Write, catalogue: Catalogue, text: str, line: int, key: str | None
) -> None:
    path = write("site.toml", text)
    with pytest.raises(TopologyError, match="nested more than 32 levels deep") as info:
        load_topology(path, catalogue)
    assert info.value.location == Location(path, line, key)
    _one_line_error(*_cli("plan", "-t", str(path), "--as", "client"))
    catalogue_path = write("catalogue.toml", "schema = 1\n" + text)
    with pytest.raises(CatalogueError, match="nested more than 32 levels deep"):
        load_catalogue(catalogue_path)
    _one_line_error(*_cli("catalogue", "--catalogue", str(catalogue_path)))


def test_a_number_longer_than_python_converts(write: Write, catalogue: Catalogue) -> None:
    path = write("site.toml", BASE.replace("= 80", "= 8" + "0" * 5000))
    with pytest.raises(TopologyError, match="number is too long") as info:
        load_topology(path, catalogue)
    assert info.value.location == Location(path, 15)


def test_what_is_not_a_regular_file_is_refused_before_reading(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    with pytest.raises(TopologyError, match="is a character device, not a regular file"):
        load_topology(Path("/dev/null"), catalogue)
    with pytest.raises(CatalogueError, match="is a character device, not a regular file"):
        load_catalogue(Path("/dev/zero"))
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(TopologyError, match="larger than 16 MiB"):
        load_topology(big, catalogue)
    with pytest.raises(CatalogueError, match="larger than 16 MiB"):
        load_catalogue(big)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("where", ["topology", "host_files"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, where: str) -> None:
    """In a child process with a timeout: opening a FIFO blocks until a writer comes, so
    a regression here would hang rather than fail."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    site = fifo
    if where == "host_files":
        site = tmp_path / "site.toml"
        site.write_text('[roles.manager]\nhost_files = ["pipe"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "sepcheck", "plan", "-t", str(site), "--as", "client"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    lines = done.stderr.splitlines()
    _one_line_error(done.returncode, lines)
    assert "is a FIFO (named pipe), not a regular file" in lines[0]


def test_a_byte_order_mark_is_accepted(tmp_path: Path, write: Write, catalogue: Catalogue) -> None:
    """Windows Notepad saves UTF-8 with a byte-order mark, which tomllib refuses."""
    plain = load_topology(write("plain.toml", BASE), catalogue)
    path = tmp_path / "site.toml"
    path.write_text(BASE, encoding="utf-8-sig")
    topology = load_topology(path, catalogue)
    assert topology.host_count(Role.CLIENT) == 20
    assert topology.digest == plain.digest
    copy = tmp_path / "catalogue"
    copy.mkdir()
    for file in sorted((ROOT / "catalogue").glob("*.toml")):
        (copy / file.name).write_text(file.read_text(encoding="utf-8"), encoding="utf-8-sig")
    assert len(load_catalogue(copy)) == len(catalogue)


def test_a_binary_hosts_file_is_not_blamed_on_its_path(
    write: Write, tmp_path: Path, catalogue: Catalogue
) -> None:
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    text = BASE + '\n[roles.gup]\nhost_files = ["logo.png"]\n'
    with pytest.raises(TopologyError) as info:
        load_topology(write("site.toml", text), catalogue)
    assert "is not UTF-8 text" in info.value.message
    assert info.value.location is not None
    assert info.value.location.key == "roles.gup.host_files[0]"
    assert info.value.hint is not None
    assert "one host" in info.value.hint
    assert "relative" not in info.value.hint


def test_a_host_spec_error_keeps_its_hint(write: Write, catalogue: Catalogue) -> None:
    path = write("site.toml", BASE.replace("sepm01.example.test", "127.0.0.1:8443"))
    with pytest.raises(TopologyError) as info:
        load_topology(path, catalogue)
    assert info.value.location == Location(path, 5, "roles.manager.hosts[0]")
    assert "has a port (:8443)" in info.value.message
    assert info.value.hint is not None
    assert "[ports], by entry id" in info.value.hint


def test_a_hosts_file_name_with_a_nul_character(write: Write, catalogue: Catalogue) -> None:
    """Path.resolve() raised ValueError (found by tests/test_fuzz.py)."""
    text = BASE + '\n[roles.gup]\nhost_files = ["a\\u0000b"]\n'
    with pytest.raises(TopologyError, match="NUL character") as info:
        load_topology(write("site.toml", text), catalogue)
    assert info.value.location is not None
    assert info.value.location.key == "roles.gup.host_files[0]"


@pytest.mark.parametrize("host", ["a[/x]", "[fd00::1]:443"])
def test_brackets_in_an_error_are_printed_as_written(write: Write, host: str) -> None:
    site = write("site.toml", f'[roles.manager]\nhosts = ["{host}"]\n')
    code, lines = _cli("plan", "-t", str(site), "--as", "client")
    _one_line_error(code, lines)
    assert repr(host) in lines[0]


def test_a_flow_skipped_by_id_must_exist(write: Write, catalogue: Catalogue) -> None:
    """A mistyped id in [flows] skip would be ignored: the flow the user meant to leave
    out would still be probed (and fail), with nothing saying why."""
    good = BASE + '\n[flows]\nskip = ["client-manager-https"]\n'
    assert load_topology(write("site.toml", good), catalogue).skip == {"client-manager-https"}
    text = (
        BASE + '\n[flows]\nskip = [\n    "client-manager-https",\n    "client-manager-htps",\n]\n'
    )
    path = write("site.toml", text)
    with pytest.raises(TopologyError) as info:
        load_topology(path, catalogue)
    error = info.value
    assert error.message == "unknown entry id 'client-manager-htps' in flows.skip"
    line = text.splitlines().index('    "client-manager-htps",') + 1
    assert error.location == Location(path, line, "flows.skip[1]")
    assert error.hint == "did you mean 'client-manager-https'?"
    far = write("site.toml", BASE + '\n[flows]\nskip = ["printer-spooler"]\n')
    with pytest.raises(TopologyError, match="unknown entry id 'printer-spooler'") as info:
        load_topology(far, catalogue)
    assert info.value.hint == "see `sepcheck catalogue` for the ids"


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        pytest.param(
            '[roles.manager]\nhosts = ["198.18.2.2"]\nport = 8443\n',
            "roles.manager.port",
            "a role table holds hosts, host_files, description and os",
            id="role-table",
        ),
        pytest.param(
            '[roles.manager]\nhosts = ["198.18.2.2"]\n[[roles.client]]\nhosts = ["198.18.1.1"]\n'
            '[[roles.client]]\nos = "mac"\naddresses = ["198.18.4.10"]\n',
            "roles.client[1].addresses",
            "a role table holds hosts, host_files, description and os",
            id="host-group",
        ),
        pytest.param(
            'version = "14.3 RU8"\n[roles.manager]\nhosts = ["198.18.2.2"]\n',
            "version",
            "top-level keys are name, sep_version, management_server_list, features, "
            "[roles.ROLE] (or [[roles.ROLE]] host groups), [ports] and [flows]",
            id="top-level",
        ),
        pytest.param(
            '[roles.manager]\nhosts = ["198.18.2.2"]\n[flows]\nskipped = ["x-y"]\n',
            "flows.skipped",
            "remove it or check its spelling against the docs",
            id="elsewhere",
        ),
    ],
)
def test_an_unknown_key_gets_the_hint_of_its_table(
    write: Write, catalogue: Catalogue, text: str, key: str, hint: str
) -> None:
    """The hint lists the keys that are allowed where the unknown one was found."""
    path = write("site.toml", text)
    with pytest.raises(TopologyError) as info:
        load_topology(path, catalogue)
    error = info.value
    assert error.message == f"unknown key {key.rsplit('.', 1)[-1]!r}"
    assert error.location is not None
    assert error.location.key == key
    assert error.hint == hint


def test_ipv6_addresses_of_a_hosts_file_are_counted(write: Write, catalogue: Catalogue) -> None:
    """A hosts file is read once at load: its targets are counted, and so are the IPv6 ones,
    which the IPv4-only NetBIOS flows leave out (see test_plan)."""
    write(
        "clients.txt",
        "# mixed\n198.18.4.1\nfd00:18::5\nfd00:18::/120  # lab\nfd00::1-fd00::4\n"
        "wks01.example.test\n198.18.5.0/30\n",
    )
    text = '[roles.manager]\nhosts = ["198.18.2.2"]\n[roles.client]\nhost_files = ["clients.txt"]\n'
    topology = load_topology(write("site.toml", text), catalogue)
    (spec,) = topology.hosts(Role.CLIENT)
    assert isinstance(spec, FileSpec)
    assert spec.count == topology.host_count(Role.CLIENT) == 1 + 1 + 255 + 4 + 1 + 2
    assert spec.v6_total == 1 + 255 + 4


def test_a_role_with_an_empty_list_of_host_groups(write: Write, catalogue: Catalogue) -> None:
    """``roles.manager = []`` names the role but no host: said at load, not turned into a
    role without hosts whose required flows all end up as gaps."""
    path = write("site.toml", '[roles]\nmanager = []\nclient = [{ hosts = ["198.18.1.5"] }]\n')
    with pytest.raises(TopologyError) as info:
        load_topology(path, catalogue)
    error = info.value
    assert error.message == "role 'manager' has no host groups"
    assert error.location == Location(path, 2, "roles.manager")
    assert error.hint == "add a [[roles.manager]] table with hosts = [...], or remove the key"
