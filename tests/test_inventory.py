"""The topology from an Ansible inventory (`sepcheck init --from-ansible-inventory`).

The fixtures in tests/fixtures/ansible are real listings of inventory.yml, a SEP site's
inventory: list.json is `ansible-inventory -i inventory.yml --list` (group variables
merged into each host's), export.json the same with --export (group variables on the
groups), both written by ansible-core 2.19."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.inventory import (
    InventoryError,
    parse_inventory,
    read_inventory,
    topology_groups,
    topology_toml,
)
from sepcheck.model import HostOS, Role
from sepcheck.topology import load_topology

FIXTURES = Path(__file__).parent / "fixtures" / "ansible"
LISTINGS = ["list.json", "export.json"]


def listing(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def toml_of(data: Any) -> str:
    inventory = read_inventory(data)
    return topology_toml(inventory, topology_groups(inventory), "inventory.json")


@pytest.mark.parametrize("name", LISTINGS)
def test_the_listing_gives_each_host_its_roles(name: str) -> None:
    inventory = parse_inventory((FIXTURES / name).read_text(encoding="utf-8"))
    hosts = {h.name: h for h in inventory.hosts}
    assert list(hosts) == [
        "jump01",
        "sepm01",
        "sqldb01",
        "gup01",
        "wks01",
        "wks02",
        "wks03",
        "mac01",
        "mac02",
    ]
    assert hosts["sepm01"].roles == (Role.MANAGER,)
    assert hosts["sepm01"].address == "198.18.1.10"  # ansible_host, not the name
    assert hosts["sepm01"].home == "sep_managers"
    # sep_clients gives the role, windows_clients (deeper) the os: the host group is the
    # deeper one's.
    assert (hosts["wks01"].roles, hosts["wks01"].os) == ((Role.CLIENT,), HostOS.WINDOWS)
    assert hosts["wks01"].home == "windows_clients"
    assert (hosts["mac01"].os, hosts["mac01"].home) == (HostOS.MAC, "mac_clients")
    # wks02's host variables override its group's roles: a host group of its own.
    assert hosts["wks02"].roles == (Role.CLIENT, Role.REMOTE_CONSOLE)
    assert hosts["wks02"].home is None
    assert hosts["jump01"].roles == ()
    assert inventory.skipped == ("jump01",)
    assert inventory.roles_of("wks02") == (Role.CLIENT, Role.REMOTE_CONSOLE)
    assert inventory.roles_of("jump01") == ()
    assert inventory.roles_of("nobody") is None
    assert inventory.site["sep_version"].value == "14.3 RU8"
    assert inventory.site["features"].value == ("windows_push", "mac_push", "sql_server_database")
    assert inventory.notes == ()


@pytest.mark.parametrize("name", LISTINGS)
def test_the_topology_loads_back(name: str, catalogue: Catalogue, tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(toml_of(listing(name)), encoding="utf-8")
    topology = load_topology(path, catalogue)
    assert topology.name == "hq"
    assert str(topology.sep_version) == "14.3 RU8"
    assert topology.features == {"windows_push", "mac_push", "sql_server_database"}
    assert topology.settings == {"management_server_list": ("https",)}
    groups = {
        role: [(g.description, g.os, [s.text for s in g.specs]) for g in found]
        for role, found in topology.groups.items()
    }
    own = "Ansible host wks02 (its own sepcheck_roles or sepcheck_os)"
    assert groups == {
        Role.MANAGER: [("Ansible group sep_managers", None, ["198.18.1.10"])],
        Role.DATABASE: [("Ansible group sep_databases", None, ["198.18.1.20"])],
        Role.CLIENT: [
            ("Ansible group windows_clients", HostOS.WINDOWS, ["198.18.3.11", "198.18.3.13"]),
            (own, HostOS.WINDOWS, ["198.18.3.12"]),
            ("Ansible group mac_clients", HostOS.MAC, ["198.18.4.11", "198.18.4.12"]),
        ],
        Role.GUP: [("Ansible group sep_gups", None, ["198.18.2.10"])],
        Role.REMOTE_CONSOLE: [(own, HostOS.WINDOWS, ["198.18.3.12"])],
    }


def test_both_listings_give_one_topology() -> None:
    def body(text: str) -> list[str]:
        # The heading and the comments say where values came from: "every host" in a
        # plain listing, "group all" in an exported one.
        return [line.split("  #")[0] for line in text.splitlines() if not line.startswith("#")]

    assert body(toml_of(listing("list.json"))) == body(toml_of(listing("export.json")))
    assert "# sepcheck_sep_version of every host" in toml_of(listing("list.json"))
    assert "# sepcheck_sep_version of group all" in toml_of(listing("export.json"))


def exported(groups: dict[str, Any], hostvars: dict[str, Any] | None = None) -> dict[str, Any]:
    """An --export listing: ``groups`` under ``all``, each with hosts and vars."""
    return {
        "_meta": {"hostvars": hostvars or {}},
        "all": {"children": list(groups)},
        **groups,
    }


def test_ansible_precedence_picks_the_roles() -> None:
    """Same depth: the name decides (later wins), unless ansible_group_priority says
    otherwise; a host in two groups of different roles gets one's, and it is said."""
    groups: dict[str, Any] = {
        "a_managers": {"hosts": ["sepm01"], "vars": {"sepcheck_roles": ["manager"]}},
        "b_gups": {"hosts": ["sepm01"], "vars": {"sepcheck_roles": ["gup"]}},
    }
    inventory = read_inventory(exported(groups))
    assert inventory.roles_of("sepm01") == (Role.GUP,)
    assert inventory.hosts[0].home == "b_gups"
    assert inventory.notes == (
        "host sepm01 is in groups a_managers, b_gups, which set different sepcheck_roles: "
        "Ansible gives it those of b_gups (list every role in one group's or the host's "
        "variables)",
    )
    groups["a_managers"]["vars"]["ansible_group_priority"] = 10
    assert read_inventory(exported(groups)).roles_of("sepm01") == (Role.MANAGER,)


def test_a_deeper_group_wins_over_its_parent() -> None:
    groups = {
        "sep": {"children": ["consoles"], "vars": {"sepcheck_roles": ["client"]}},
        "consoles": {"hosts": ["adm01"], "vars": {"sepcheck_roles": ["remote_console"]}},
    }
    # "consoles" sorts before "sep" by name, but is deeper: it wins.
    inventory = read_inventory(exported(groups))
    assert inventory.roles_of("adm01") == (Role.REMOTE_CONSOLE,)
    assert inventory.hosts[0].home == "consoles"


def test_a_plain_listing_tells_overrides_by_the_group_majority() -> None:
    """Without group variables, the value most of a group's hosts have is the group's;
    a host with another set its own, and gets a host group of its own."""
    client = {"sepcheck_roles": ["client"]}
    data = {
        "_meta": {
            "hostvars": {
                "wks01": client,
                "wks02": {"sepcheck_roles": ["client"], "sepcheck_os": "linux"},
                "wks03": client,
            }
        },
        "all": {"children": ["ungrouped", "clients"]},
        "clients": {"hosts": ["wks01", "wks02", "wks03"]},
    }
    homes = {h.name: h.home for h in read_inventory(data).hosts}
    assert homes == {"wks01": "clients", "wks02": None, "wks03": "clients"}
    text = toml_of(data)
    document = tomllib.loads(text)
    assert [g["description"] for g in document["roles"]["client"]] == [
        "Ansible group clients",
        "Ansible host wks02 (its own sepcheck_roles or sepcheck_os)",
    ]
    assert document["roles"]["client"][1]["os"] == "linux"


def test_ungrouped_hosts_and_hosts_setting_their_own_roles_have_their_own_group() -> None:
    data = {
        "_meta": {"hostvars": {"sepm01": {"sepcheck_roles": ["manager"]}}},
        "all": {"children": ["ungrouped"]},
        "ungrouped": {"hosts": ["sepm01"]},
    }
    (group,) = topology_groups(read_inventory(data))
    assert group.description == "Ansible host sepm01 (its own sepcheck_roles or sepcheck_os)"


def test_names_that_toml_must_escape_load_back(catalogue: Catalogue, tmp_path: Path) -> None:
    odd = 'q"uote\\back\nline\x7f\U0001f600 é'
    data = exported({odd: {"hosts": ["sepm01"], "vars": {"sepcheck_roles": ["manager"]}}})
    data["all"]["vars"] = {"sepcheck_site_name": odd}
    path = tmp_path / "site.toml"
    path.write_text(toml_of(data), encoding="utf-8")
    topology = load_topology(path, catalogue)
    assert topology.name == odd
    assert topology.groups[Role.MANAGER][0].description == f"Ansible group {odd}"


def test_one_address_is_listed_once() -> None:
    data = exported(
        {"m": {"hosts": ["a", "b"], "vars": {"sepcheck_roles": ["manager"]}}},
        {"a": {"ansible_host": "198.18.1.10"}, "b": {"ansible_host": "198.18.1.10"}},
    )
    assert tomllib.loads(toml_of(data))["roles"]["manager"][0]["hosts"] == ["198.18.1.10"]


def error_of(data: Any) -> InventoryError:
    def topology() -> None:
        topology_groups(read_inventory(data, Path("inv.json")), Path("inv.json"))

    with pytest.raises(InventoryError) as caught:
        topology()
    return caught.value


MANAGERS: dict[str, Any] = {"hosts": ["sepm01"], "vars": {"sepcheck_roles": ["manager"]}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "inv.json: not an inventory: not a JSON object"),
        ({"all": {"children": []}}, "inv.json: the inventory has no hosts"),
        ({"web": "a"}, "inv.json: group web: must be an object with hosts, children and vars"),
        ({"web": {"hosts": "a"}}, "inv.json: group web: hosts: must be a list of names"),
        ({"web": {"hosts": ["a"], "vars": []}}, "inv.json: sepcheck_roles: no host has a role"),
        (
            {"web": {"hosts": ["a"], "vars": ["x"]}},
            "inv.json: group web: vars: must be an object of variables",
        ),
        (
            exported({"m": {"hosts": ["a"], "vars": {"sepcheck_roles": ["manger"]}}}),
            "inv.json: group m: sepcheck_roles[0]: unknown role 'manger'",
        ),
        (
            exported({"m": MANAGERS}, {"sepm01": {"sepcheck_roles": ["manager", "gpu"]}}),
            "inv.json: host sepm01: sepcheck_roles[1]: unknown role 'gpu'",
        ),
        (
            exported({"m": {"hosts": ["a"], "vars": {"sepcheck_roles": "manager"}}}),
            "inv.json: group m: sepcheck_roles: must be a list of names",
        ),
        (
            exported({"m": MANAGERS}, {"sepm01": {"sepcheck_os": "solaris"}}),
            "inv.json: host sepm01: sepcheck_os: unknown os 'solaris'",
        ),
        (
            exported({"all": {"vars": {"sepcheck_sep_version": 14.3}}, "m": MANAGERS}),
            "inv.json: group all: sepcheck_sep_version: must be a string, not 14.3",
        ),
        (
            exported({"m": MANAGERS}, {"sepm01": {"ansible_host": "198.18.1.300"}}),
            "inv.json: host sepm01: ansible_host: '198.18.1.300' is not a valid IPv4 address",
        ),
        (
            exported({"m": {"hosts": ["a"], "vars": {"ansible_user": "x"}}}),
            "inv.json: sepcheck_roles: no host has a role: none has sepcheck_roles",
        ),
        (
            exported(
                {
                    "m": {**MANAGERS, "vars": {**MANAGERS["vars"], "sepcheck_site_name": "hq"}},
                    "n": {"hosts": ["b"], "vars": {"sepcheck_site_name": "branch"}},
                }
            ),
            'inv.json: group n: sepcheck_site_name: "branch" differs from "hq" in group m',
        ),
        (
            {
                "_meta": {
                    "hostvars": {
                        "a": {"sepcheck_roles": ["manager"], "sepcheck_sep_version": "14.3"},
                        "b": {"sepcheck_roles": ["client"], "sepcheck_sep_version": "14.2"},
                    }
                },
                "all": {"children": ["ungrouped"]},
                "ungrouped": {"hosts": ["a", "b"]},
            },
            'inv.json: host b: sepcheck_sep_version: "14.2" differs from "14.3" in host a',
        ),
        (
            {"x": {"children": ["y"], "hosts": ["a"]}, "y": {"children": ["x"]}},
            "inv.json: group x: children: the groups' children make a loop",
        ),
    ],
)
def test_bad_inventories_say_where(data: Any, message: str) -> None:
    error = error_of(data)
    assert str(error).startswith(message), str(error)


def test_the_role_error_suggests_the_name() -> None:
    error = error_of(exported({"m": {"hosts": ["a"], "vars": {"sepcheck_roles": ["manger"]}}}))
    assert error.hint == "did you mean 'manager'?"


def test_bad_json_says_where() -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory('{"all": ', Path("inv.json"))
    assert str(caught.value).startswith("inv.json: not valid JSON (Expecting value at line 1")


def test_a_host_without_roles_is_never_asked_for_an_address() -> None:
    """ansible-inventory --list leaves templates unrendered: a bastion whose ansible_host
    is one, and that sepcheck does not audit, must not stop the topology."""
    data = exported(
        {"m": MANAGERS, "jump": {"hosts": ["bastion"]}},
        {"bastion": {"ansible_host": "{{ lookup('env', 'BASTION_IP') }}"}},
    )
    assert tomllib.loads(toml_of(data))["roles"]["manager"][0]["hosts"] == ["sepm01"]


def test_a_listing_made_in_a_play_reads_as_ansible_inventorys() -> None:
    """The collection writes the listing from `hostvars` and `groups` inside the play
    (templates rendered, vault decrypted in memory, only sepcheck's variables kept):
    groups as flat lists of hosts, as the magic variable has them."""
    data = {
        "_meta": {
            "hostvars": {
                "sepm01": {"sepcheck_roles": ["manager"], "ansible_host": "198.18.1.10"},
                "ws01": {"sepcheck_roles": ["client"], "ansible_host": "198.18.2.10"},
                "ws02": {"sepcheck_roles": ["client"], "ansible_host": "198.18.2.11"},
                "bastion": {"ansible_host": ""},
            }
        },
        "all": ["sepm01", "ws01", "ws02", "bastion"],
        "ungrouped": [],
        "sepm_servers": ["sepm01"],
        "workstations": ["ws01", "ws02"],
        "jump": ["bastion"],
    }
    roles = tomllib.loads(toml_of(data))["roles"]
    assert roles["manager"][0]["hosts"] == ["198.18.1.10"]
    (clients,) = roles["client"]
    assert clients["hosts"] == ["198.18.2.10", "198.18.2.11"]
    assert "workstations" in clients["description"]
