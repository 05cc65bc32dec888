from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sepcheck.catalogue import Catalogue, Entry, load_catalogue
from sepcheck.errors import CatalogueError, Location
from sepcheck.model import Expect, Protocol, Role, Scope
from sepcheck.versions import parse_version

SOURCE = Path(__file__).resolve().parents[2] / "shared/source/sep-communication-ports.fr.txt"

# Broadcom's table, row by row, as read from the French source: for each row, the flows
# it defines: (protocol, port) pairs, source, destination, applicable versions and whether
# it is configurable (None where the table does not say).
Flow = tuple[set[tuple[str, int]], str, str, str, bool | None]
ROWS: dict[int, list[Flow]] = {
    1: [
        (
            {("tcp", 139), ("tcp", 445), ("udp", 137), ("udp", 138)},
            "manager",
            "client",
            "all",
            False,
        )
    ],
    2: [({("tcp", 22)}, "manager", "client", "all", False)],
    3: [({("tcp", 2967)}, "client", "gup", "all", True)],
    4: [({("tcp", 2968)}, "client", "client", "14.2 and later", True)],
    # The automatically installed database runs on the manager: a flow inside the manager.
    5: [({("tcp", 2638)}, "manager", "manager", "all", True)],
    6: [({("tcp", 1433)}, "manager", "database", "all", True)],
    7: [
        ({("tcp", 8443)}, "remote_console", "manager", "all", True),
        ({("tcp", 8443)}, "replication_partner", "manager", "all", True),
    ],
    8: [({("tcp", 8444)}, "spc", "manager", "12.1.x", None)],
    9: [({("tcp", 9090)}, "remote_console", "manager", "all", True)],
    10: [({("tcp", 8014)}, "client", "manager", "all", True)],
    11: [({("tcp", 443)}, "client", "manager", "all", True)],
    12: [({("tcp", 443)}, "manager", "cloud_console", "14.0.1 and later", None)],
    13: [({("tcp", 443)}, "client", "cloud_console", "14.2 and later", None)],
    14: [({("tcp", 8081), ("tcp", 8082)}, "manager", "content_analysis", "14.2.x only", None)],
    15: [({("tcp", 8445)}, "reporting_console", "manager", "all", True)],
    16: [
        ({("tcp", 8446)}, "rmm_edr", "manager", "all", True),
        ({("tcp", 8446)}, "remote_console", "manager", "14.0.1 and later", True),
    ],
    17: [({("tcp", 8447)}, "manager", "manager", "12.1.5 and later", True)],
    18: [({("tcp", 8765)}, "manager", "manager", "all", True)],
    19: [({("tcp", 1100)}, "manager", "manager", "all", False)],
    20: [({("udp", 514)}, "manager", "syslog", "all", True)],
}


def _flow_of(entry: Entry) -> Flow | None:
    for flow in ROWS.get(entry.row, []):
        ports, source, destination, _, _ = flow
        if (
            (entry.protocol.value, entry.port) in ports
            and entry.source.value == source
            and entry.destination.value == destination
            and entry.expect is Expect.REACHABLE
        ):
            return flow
    return None


def test_every_row_of_the_table_is_in_the_catalogue(catalogue: Catalogue) -> None:
    for row, flows in ROWS.items():
        for ports, source, destination, versions, configurable in flows:
            entries = [
                e
                for e in catalogue
                if e.row == row
                and e.expect is Expect.REACHABLE
                and e.source.value == source
                and e.destination.value == destination
            ]
            assert {(e.protocol.value, e.port) for e in entries} == ports, (row, source)
            for entry in entries:
                assert entry.versions == versions, entry.id
                if configurable is not None:
                    assert entry.configurable is configurable, entry.id
                else:
                    # The table is silent: the entry must say what sepcheck decided.
                    assert any("configurable" in note for note in entry.notes), entry.id


def test_nothing_invented_without_a_note(catalogue: Catalogue) -> None:
    for entry in catalogue:
        if entry.row == 0:
            # Beyond the table: optional, and says so.
            assert entry.optional or entry.feature, entry.id
            assert entry.notes[0].startswith("Not in the table"), entry.id
            continue
        assert entry.row in ROWS, f"{entry.id} names no row of the table"
        if _flow_of(entry) is not None:
            continue
        if entry.expect is Expect.UNREACHABLE:
            assert any(note.startswith("Basis (") for note in entry.notes), entry.id
        else:
            assert any(note.startswith("Derived from row") for note in entry.notes), entry.id


@pytest.mark.skipif(not SOURCE.exists(), reason="shared/source is not beside the checkout")
def test_every_port_of_the_source_document_is_catalogued(catalogue: Catalogue) -> None:
    text = SOURCE.read_text(encoding="utf-8")
    found: set[tuple[str, int]] = set()
    for proto, ports in re.findall(r"^(TCP|UDP|HTTPS?)[ \u00a0]([\d, ]+)$", text, re.MULTILINE):
        for port in ports.split(","):
            found.add(("udp" if proto == "UDP" else "tcp", int(port)))
    assert len(found) == 22
    assert found <= {(e.protocol.value, e.port) for e in catalogue}


def test_ambiguous_rows_explain_the_decision(catalogue: Catalogue) -> None:
    for entry_id in (
        "client-client-ntr-auth",
        "manager-manager-launcher",
        "manager-manager-rmi-registry",
        "manager-content_analysis-http",
        "manager-syslog-forwarding",
    ):
        entry = catalogue.get(entry_id)
        assert entry is not None
        assert any("sepcheck decision" in note for note in entry.notes), entry_id


def test_443_appears_for_clients_cloud_and_roaming(catalogue: Catalogue) -> None:
    pairs = {
        (e.source, e.destination)
        for e in catalogue
        if e.port == 443 and e.expect is Expect.REACHABLE
    }
    assert pairs == {
        (Role.CLIENT, Role.MANAGER),
        (Role.MANAGER, Role.CLOUD_CONSOLE),
        (Role.CLIENT, Role.CLOUD_CONSOLE),
        (Role.MANAGER, Role.LIVEUPDATE),
        (Role.CLIENT, Role.LIVEUPDATE),
    }


def test_must_not_reach_entries(catalogue: Catalogue) -> None:
    unreachable = {(e.source, e.port) for e in catalogue if e.expect is Expect.UNREACHABLE}
    for port in (8447, 8765, 1100, 2638, 1433):
        assert (Role.CLIENT, port) in unreachable
        assert (Role.REMOTE_CONSOLE, port) in unreachable
    # The manager itself must reach its database: no must-not-reach from it.
    assert all(src is not Role.MANAGER for src, _ in unreachable)
    # Only what cannot be proven exposure is a warning; Tomcat's shutdown port and the
    # embedded database stay failures.
    warn = {
        e.port for e in catalogue if e.severity.value == "warn" and e.expect is Expect.UNREACHABLE
    }
    assert warn == {8443, 9090, 8447, 1100, 1433}
    fail = {
        e.port for e in catalogue if e.severity.value == "fail" and e.expect is Expect.UNREACHABLE
    }
    assert fail == {8765, 2638}
    # The database exposure follows the database in use, toward the host that has it.
    for entry in catalogue:
        if entry.expect is Expect.UNREACHABLE and entry.port == 2638:
            assert (entry.feature, entry.destination) == ("embedded_database", Role.MANAGER)
        if entry.expect is Expect.UNREACHABLE and entry.port == 1433:
            assert (entry.feature, entry.destination) == ("sql_server_database", Role.DATABASE)


def test_optional_flows(catalogue: Catalogue) -> None:
    optional = {e.destination for e in catalogue if e.optional}
    assert {Role.SYSLOG, Role.CLOUD_CONSOLE, Role.CONTENT_ANALYSIS} <= optional
    assert any(e.source is Role.SPC and e.optional for e in catalogue)
    required = {e.id for e in catalogue if not e.optional}
    assert {"client-manager-http", "client-manager-https", "manager-client-push-smb"} <= required


def test_local_entries(catalogue: Catalogue) -> None:
    local = {e.id for e in catalogue if e.scope is Scope.LOCAL}
    assert local == {
        "client-client-ntr-auth",
        "manager-manager-embedded-database",
        "manager-manager-launcher",
        "manager-manager-tomcat-shutdown",
        "manager-manager-rmi-registry",
    }


def test_select_filters(catalogue: Catalogue) -> None:
    v143 = parse_version("14.3 RU8")
    ids = {e.id for e in catalogue.select(version=v143)}
    assert "spc-manager-webservices" not in ids  # 12.1.x only
    assert "manager-content_analysis-http" not in ids  # 14.2.x only
    assert "client-manager-https" in ids
    v121 = parse_version("12.1.6 MP10")
    ids121 = {e.id for e in catalogue.select(version=v121)}
    assert "spc-manager-webservices" in ids121
    assert "client-cloud_console-https" not in ids121
    udp = list(catalogue.select(protocol=Protocol.UDP))
    assert {e.port for e in udp} == {137, 138, 514, 1434}
    assert all(e.involves(Role.GUP) for e in catalogue.select(role=Role.GUP))
    assert [e.id for e in catalogue.select(role=Role.GUP)] == ["client-gup-proxy"]


def test_site_model(catalogue: Catalogue) -> None:
    """How real sites run (issue: verdicts an admin can trust), as catalogue data."""
    get = catalogue.by_id
    # 8014 and 443 are alternatives, picked by the management server list.
    assert (get["client-manager-http"].group, get["client-manager-http"].choice) == (
        "client-manager",
        "http",
    )
    assert (get["client-manager-https"].group, get["client-manager-https"].choice) == (
        "client-manager",
        "https",
    )
    group = catalogue.groups["client-manager"]
    assert group.setting == "management_server_list"
    default_121 = group.default_choice(parse_version("12.1.6 MP10"))
    default_143 = group.default_choice(parse_version("14.3 RU8"))
    assert default_121 is not None
    assert default_121.choose == ("http",)
    assert default_143 is not None
    assert set(default_143.choose) == {"http", "https"}
    # Push deployment is a feature; 445 carries it, NetBIOS is an IPv4 fallback.
    push = [e for e in catalogue if e.row == 1]
    assert {e.feature for e in push} == {"windows_push"}
    assert {(e.port, e.severity.value, e.ipv4_only) for e in push} == {
        (445, "fail", False),
        (139, "warn", True),
        (137, "warn", True),
        (138, "warn", True),
    }
    assert get["manager-client-push-mac-ssh"].target_os == "mac"
    # A GUP is a client.
    assert catalogue.implied_roles([Role.GUP]) == {Role.CLIENT: Role.GUP}
    assert catalogue.implying(Role.CLIENT) == (Role.GUP,)
    # The remote console reaches the reporting site, on the reporting console's listener.
    console = get["remote_console-manager-reporting"]
    assert (console.port, console.port_from) == (8445, "reporting_console-manager-reporting")
    # One listener, one override: entries sharing a manager listener follow one entry.
    assert get["replication_partner-manager-https"].port_from == "remote_console-manager-https"
    assert get["remote_console-manager-webservices"].port_from == "rmm_edr-manager-webservices"
    # Process names as Windows shows them; KB 205656 over the French table for dbsrv16.
    assert "sqlservr.exe" in get["manager-database-sqlserver"].listener
    assert "sqlserver.exe" not in get["manager-database-sqlserver"].listener
    assert "up to 14.3 MP1" in get["manager-manager-embedded-database"].listener
    # The first-contact web console page is only a warning.
    assert get["remote_console-manager-web-console"].severity.value == "warn"
    # Beyond the table: optional roles, cloud and LiveUpdate through a declared proxy.
    assert get["manager-cloud_console-https"].via_proxy == "manager-proxy-web"
    assert get["manager-liveupdate-https"].via_proxy == "manager-proxy-web"
    beyond = {e.destination for e in catalogue if e.row == 0}
    assert beyond >= {Role.LIVEUPDATE, Role.PROXY, Role.DIRECTORY, Role.MAIL, Role.DATABASE}


def test_json_contract(catalogue: Catalogue) -> None:
    ids = set()
    for entry in catalogue:
        data = json.loads(json.dumps(entry.public_dict()))
        assert isinstance(data["id"], str)
        assert data["protocol"] in ("tcp", "udp")
        assert isinstance(data["port"], int)
        assert data["source"] in {r.value for r in Role}
        assert data["destination"] in {r.value for r in Role}
        assert data["purpose"]
        assert isinstance(data["versions"], str)
        assert data["expect"] in ("reachable", "unreachable")
        assert isinstance(data["configurable"], bool)
        assert re.fullmatch(r"[a-z_]+-[a-z_]+-[a-z0-9_-]+", data["id"])
        ids.add(data["id"])
    assert len(ids) == len(catalogue)


GOOD = """schema = 1
[[entry]]
id = "client-manager-http"
row = 10
protocol = "tcp"
port = 8014
source = "client"
destination = "manager"
purpose = "x"
configurable = true
versions = "all"
"""


def test_a_user_copy_loads(write: Callable[[str, str], Path]) -> None:
    cat = load_catalogue(write("mine.toml", GOOD))
    assert [e.id for e in cat] == ["client-manager-http"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("port = 8014", "port = 80140"), 6, ["client-manager-http", "port", "65535"]),
        (GOOD.replace('"tcp"', '"sctp"'), 5, ["protocol", "'tcp' or 'udp'"]),
        (GOOD.replace('"manager"', '"sepm"'), 8, ["destination", "manager"]),
        (GOOD.replace('"all"', '"Toutes"'), 11, ["versions", "Toutes"]),
        (GOOD.replace('versions = "all"\n', ""), None, ["versions", "missing"]),
        (GOOD + 'colour = "red"\n', 12, ["unknown key 'colour'"]),
        (GOOD.replace('id = "client-manager-http"', 'id = "Client Manager"'), 3, ["id"]),
        (GOOD.replace("schema = 1", "schema = 7"), 1, ["schema 7"]),
        (GOOD.replace("schema = 1\n", ""), 1, ["schema"]),
        (GOOD.replace("port = 8014", "port = 8014\nport = 8015"), 7, ["invalid TOML"]),
        (GOOD + GOOD.split("\n", 1)[1], None, ["duplicate entry id"]),
        (GOOD + 'feature = "nope"\n', None, ["feature 'nope' is not declared"]),
        (GOOD + 'port_from = "ghost"\n', None, ["port_from", "ghost"]),
        (
            GOOD
            + GOOD.split("\n", 1)[1].replace("client-manager-http", "client-manager-x")
            + 'expect = "unreachable"\n',
            None,
            ["expects", "reachable"],
        ),
        ("", None, ["schema"]),
    ],
)
def test_broken_catalogues_name_file_line_and_field(
    write: Callable[[str, str], Path], text: str, line: int | None, words: list[str]
) -> None:
    path = write("broken.toml", text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    error = info.value
    assert error.location is not None
    assert error.location.path == path
    if line is not None:
        assert error.location.line == line, str(error)
    message = str(error)
    for word in words:
        assert word in message or word in (error.hint or ""), message


def test_missing_and_empty_catalogue_paths(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "nope.toml")
    with pytest.raises(CatalogueError, match=r"no \*\.toml"):
        load_catalogue(tmp_path)
    (tmp_path / "a.toml").write_text("schema = 1\n")
    with pytest.raises(CatalogueError, match="no entries"):
        load_catalogue(tmp_path)


def test_folder_ids_are_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD)
    with pytest.raises(CatalogueError, match="duplicate entry id") as info:
        load_catalogue(tmp_path)
    assert info.value.location is not None
    assert info.value.location.path == tmp_path / "b.toml"


def test_docs_reference_matches_the_catalogue(catalogue: Catalogue) -> None:
    from sepcheck.render.catalogue import catalogue_markdown

    docs = (Path(__file__).resolve().parents[1] / "docs" / "catalogue.md").read_text()
    assert docs.endswith(catalogue_markdown(catalogue)), (
        "docs/catalogue.md is stale: regenerate it with sepcheck catalogue --format markdown"
    )


# -- links between entries (checks.check_links) -----------------------------------------
#
# A catalogue where every kind of link is used and right: a group of alternatives picked by
# a site setting (with a default), a feature that requires another, and a flow carried by
# the site's proxy. Each case below breaks one link.


def _entry(entry_id: str, port: int, destination: str, extra: str = "") -> str:
    return f"""
[[entry]]
id = "{entry_id}"
row = 0
protocol = "tcp"
port = {port}
source = "client"
destination = "{destination}"
purpose = "x"
configurable = true
versions = "all"
{extra}"""


LINKED = (
    """schema = 1

[features.windows_push]
description = "push to Windows"

[features.mac_push]
description = "push to Macs"
requires = ["windows_push"]

[groups.client-manager]
description = "HTTP or HTTPS"
setting = "management_server_list"
defaults = [{ versions = "all", choose = ["http", "https"] }]
"""
    + _entry("client-manager-http", 8014, "manager", 'group = "client-manager"\nchoice = "http"\n')
    + _entry("client-manager-https", 443, "manager", 'group = "client-manager"\nchoice = "https"\n')
    + _entry("client-proxy-web", 8080, "proxy")
    + _entry("client-cloud_console-https", 443, "cloud_console", 'via_proxy = "client-proxy-web"\n')
)


def _id_line(text: str, entry_id: str) -> int:
    return text.splitlines().index(f'id = "{entry_id}"') + 1


def test_a_catalogue_whose_links_fit_loads(write: Callable[[str, str], Path]) -> None:
    cat = load_catalogue(write("linked.toml", LINKED))
    assert cat.by_id["client-cloud_console-https"].via_proxy == "client-proxy-web"
    assert cat.features["mac_push"].requires == ("windows_push",)
    assert [e.id for e in cat if e.group == "client-manager"] == [
        "client-manager-http",
        "client-manager-https",
    ]


@pytest.mark.parametrize(
    ("change", "entry_id", "key", "message", "hint"),
    [
        pytest.param(
            ('group = "client-manager"\nchoice = "https"', 'group = "client-managers"'),
            "client-manager-https",
            "entry.group",
            "entry 'client-manager-https': group 'client-managers' is not declared",
            "declare it in a [groups.client-managers] table with a description",
            id="undeclared-group",
        ),
        pytest.param(
            ('destination = "proxy"\n', 'destination = "proxy"\ngroup = "client-manager"\n'),
            "client-manager-http",
            "entry.group",
            "entry 'client-manager-http': members of group 'client-manager' must share "
            "source and destination",
            "alternatives are ways for one source to reach one destination",
            id="group-members-apart",
        ),
        pytest.param(
            ('choice = "https"\n', ""),
            "client-manager-https",
            "entry.choice",
            "entry 'client-manager-https': a member of a group with a setting needs a choice "
            "(and only then)",
            "add choice = one of http, https",
            id="missing-choice",
        ),
        pytest.param(
            ('setting = "management_server_list"\n', ""),
            "client-manager-http",
            "entry.choice",
            "entry 'client-manager-http': a member of a group with a setting needs a choice "
            "(and only then)",
            "remove choice",
            id="choice-without-setting",
        ),
        pytest.param(
            ('choice = "https"', 'choice = "ftp"'),
            "client-manager-https",
            "entry.choice",
            "entry 'client-manager-https': choice 'ftp' is not a value of setting "
            "'management_server_list'",
            "use one of: http, https",
            id="unknown-choice",
        ),
        pytest.param(
            ('via_proxy = "client-proxy-web"', 'via_proxy = "client-proxy-webb"'),
            "client-cloud_console-https",
            "entry.via_proxy",
            "entry 'client-cloud_console-https': via_proxy 'client-proxy-webb' is not an "
            "entry from client to proxy",
            "via_proxy names the entry that checks the path to the site's proxy",
            id="via-proxy-unknown",
        ),
        pytest.param(
            ('via_proxy = "client-proxy-web"', 'via_proxy = "client-manager-http"'),
            "client-cloud_console-https",
            "entry.via_proxy",
            "entry 'client-cloud_console-https': via_proxy 'client-manager-http' is not an "
            "entry from client to proxy",
            "via_proxy names the entry that checks the path to the site's proxy",
            id="via-proxy-not-to-proxy",
        ),
    ],
)
def test_an_entry_with_a_broken_link_is_refused(
    write: Callable[[str, str], Path],
    change: tuple[str, str],
    entry_id: str,
    key: str,
    message: str,
    hint: str,
) -> None:
    """Without these checks a mistyped group or proxy link loads, and the flow is silently
    judged alone or never replaced by the proxy (the plan trusts the links)."""
    assert change[0] in LINKED
    text = LINKED.replace(*change, 1)
    path = write("broken.toml", text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    error = info.value
    assert error.message == message
    assert error.location is not None
    assert (error.location.path, error.location.line, error.location.key) == (
        path,
        _id_line(text, entry_id),
        key,
    )
    assert error.hint == hint


@pytest.mark.parametrize(
    ("change", "key", "message", "hint"),
    [
        pytest.param(
            ('requires = ["windows_push"]', 'requires = ["windows_pushh"]'),
            "features.mac_push",
            "feature 'mac_push' names undeclared feature 'windows_pushh'",
            "requires and excludes name features declared in [features]",
            id="requires-undeclared",
        ),
        pytest.param(
            ('requires = ["windows_push"]', 'excludes = ["embedded"]'),
            "features.mac_push",
            "feature 'mac_push' names undeclared feature 'embedded'",
            "requires and excludes name features declared in [features]",
            id="excludes-undeclared",
        ),
        pytest.param(
            (
                "[groups.client-manager]",
                '[groups.spare]\ndescription = "x"\n\n[groups.client-manager]',
            ),
            "groups.spare",
            "group 'spare' has no member entries",
            "add group = 'spare' to the entries that are alternatives, or remove it",
            id="group-without-members",
        ),
        pytest.param(
            ('choose = ["http", "https"]', 'choose = ["http", "ftp"]'),
            "groups.client-manager.defaults",
            "group 'client-manager': default choice 'ftp' is not a value of setting "
            "'management_server_list'",
            "choose from: http, https",
            id="default-choice-unknown",
        ),
    ],
)
def test_a_declaration_with_a_broken_link_is_refused(
    write: Callable[[str, str], Path],
    change: tuple[str, str],
    key: str,
    message: str,
    hint: str,
) -> None:
    assert change[0] in LINKED
    broken = LINKED.replace(*change, 1)
    path = write("broken.toml", broken)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    error = info.value
    assert error.message == message
    assert error.location is not None
    assert error.location.key == key
    assert error.hint == hint
    # The file and the line of the declaration's table (they used to be missing: with a
    # folder of catalogue files, the user could not tell which one to open).
    table = ".".join(key.split(".")[:2])
    assert error.location.path == path
    assert error.location.line == broken.splitlines().index(f"[{table}]") + 1


def test_a_broken_link_across_files_names_the_file_that_holds_it(tmp_path: Path) -> None:
    """The proxy entry in one file, the flow it carries in the next: the link is checked
    on the whole catalogue, and the error names the file and line of the broken entry."""
    proxied = _entry("client-cloud_console-https", 443, "cloud_console", 'via_proxy = "X"\n')
    (tmp_path / "1-ports.toml").write_text(
        "schema = 1\n" + _entry("client-proxy-web", 8080, "proxy")
    )
    (tmp_path / "2-beyond.toml").write_text(
        "schema = 1\n" + proxied.replace('"X"', '"client-proxy-web"')
    )
    assert len(load_catalogue(tmp_path)) == 2
    broken = "schema = 1\n" + proxied.replace('"X"', '"client-proxy"')
    (tmp_path / "2-beyond.toml").write_text(broken)
    with pytest.raises(CatalogueError, match="via_proxy 'client-proxy' is not an entry") as info:
        load_catalogue(tmp_path)
    assert info.value.location == Location(
        tmp_path / "2-beyond.toml",
        _id_line(broken, "client-cloud_console-https"),
        "entry.via_proxy",
    )


# -- more gaps of the site model: port_from, declarations across files, an entry's shape ---


@pytest.mark.parametrize(
    ("followers", "follower", "problem"),
    [
        pytest.param(
            _entry("client-manager-alt", 8015, "manager", 'port_from = "client-manager-http"\n'),
            "client-manager-alt",
            "port_from entry 'client-manager-http' is 8014/tcp, not 8015/tcp",
            id="other-port",
        ),
        pytest.param(
            _entry(
                "client-manager-alt", 8014, "manager", 'port_from = "client-manager-http"\n'
            ).replace('"tcp"', '"udp"'),
            "client-manager-alt",
            "port_from entry 'client-manager-http' is 8014/tcp, not 8014/udp",
            id="other-protocol",
        ),
        pytest.param(
            _entry("client-manager-alt", 8014, "manager", 'port_from = "client-manager-http"\n')
            + _entry("client-manager-chain", 8014, "manager", 'port_from = "client-manager-alt"\n'),
            "client-manager-chain",
            "port_from entry 'client-manager-alt' itself follows another entry",
            id="chain",
        ),
    ],
)
def test_port_from_must_name_a_listener_it_can_follow(
    write: Callable[[str, str], Path], followers: str, follower: str, problem: str
) -> None:
    """A topology overrides a listener once and every entry that follows it moves: a link
    to another port would move a flow to a listener it never used, and a chain would leave
    the last entry on the old port (the topology refuses overriding a follower)."""
    text = GOOD + followers
    path = write("broken.toml", text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    error = info.value
    assert error.message == f"entry {follower!r}: {problem}"
    assert error.location == Location(path, _id_line(text, follower), "entry.port_from")
    assert error.hint == "port_from must name an entry with the same protocol and port"


@pytest.mark.parametrize(
    ("table", "declaration"),
    [
        ("features", '[features.windows_push]\ndescription = "push"\n'),
        ("groups", '[groups.client-manager]\ndescription = "HTTP or HTTPS"\n'),
        ("roles", '[roles.gup]\nimplies = ["client"]\n'),
    ],
)
def test_a_declaration_in_two_files_is_refused(
    tmp_path: Path, table: str, declaration: str
) -> None:
    """A user's extra file that declares a feature, group or role again would silently
    replace the first declaration (its requires, setting, defaults or implied roles)."""
    body = GOOD.split("\n", 1)[1]
    (tmp_path / "1-ports.toml").write_text(
        "schema = 1\n" + declaration + body.replace("client-manager-http", "client-manager-x")
    )
    (tmp_path / "2-mine.toml").write_text("schema = 1\n\n" + declaration + body)
    name = declaration.split("]", 1)[0].split(".", 1)[1]
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    error = info.value
    assert error.message == f"{table.rstrip('s')} {name!r} is declared twice"
    assert error.location == Location(tmp_path / "2-mine.toml", 3, f"{table}.{name}")
    assert error.hint == f"declare each of [{table}] in one catalogue file only"


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        pytest.param(
            GOOD + 'scope = "local"\n',
            2,  # the [[entry]] header
            "entry[0]",
            "entry 'client-manager-http': a local-scope entry runs on one host: source and "
            "destination must be the same role",
            id="local-between-two-roles",
        ),
        pytest.param(
            GOOD.replace('"client"', '"manager"') + 'scope = "local"\nexpect = "unreachable"\n',
            2,  # the [[entry]] header
            "entry[0]",
            "entry 'client-manager-http': a local-scope entry cannot be must-not-reach; use "
            "scope network",
            id="local-must-not-reach",
        ),
        pytest.param(
            GOOD + 'choice = "http"\n',
            2,  # the [[entry]] header
            "entry[0]",
            "entry 'client-manager-http': 'choice' needs 'group': it picks this member of a group",
            id="choice-without-group",
        ),
        pytest.param(
            GOOD + 'group = "client-manager"\nexpect = "unreachable"\n',
            2,  # the [[entry]] header
            "entry[0]",
            "entry 'client-manager-http': a must-not-reach entry cannot be one of a group of "
            "alternatives",
            id="must-not-reach-alternative",
        ),
        pytest.param(
            GOOD.replace(
                "schema = 1\n",
                'schema = 1\n[groups.g]\ndescription = "x"\nsetting = "server_list"\n',
            ),
            4,
            "groups.g.setting",
            "unknown site setting 'server_list'; known: management_server_list",
            id="group-setting-unknown",
        ),
    ],
)
def test_an_entry_or_group_that_contradicts_itself_is_refused(
    write: Callable[[str, str], Path], text: str, line: int, key: str, message: str
) -> None:
    """What one entry (or group) says must make sense alone: a local flow between two roles
    would be probed on the loopback of the wrong host, a choice without a group picks
    nothing, and a must-not-reach alternative would pass when another member works."""
    path = write("broken.toml", text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    error = info.value
    assert error.message == message
    assert error.location is not None
    assert (error.location.path, error.location.line, error.location.key) == (path, line, key)
