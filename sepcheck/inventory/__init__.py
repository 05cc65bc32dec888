"""The site topology from an Ansible inventory: the JSON of `ansible-inventory --list`.

No Ansible import: the JSON is the interface (``ansible-inventory -i INV --list``, or the
same structure written by hand). Groups map to sepcheck roles through ``sepcheck_roles``
(and ``sepcheck_os`` for client groups); host variables override them; the site-level
variables (``sepcheck_site_name``, ``sepcheck_sep_version``, ``sepcheck_features``,
``sepcheck_management_server_list``) come from groups. A host's address is its
``ansible_host``, else its inventory name.

Variables merge as Ansible merges them: group variables from ``all`` to the deepest group
(same depth: ``ansible_group_priority``, then the name), host variables last; lists are
replaced, not joined. Plain ``--list`` merges group variables into every host's variables
and lists none on the groups; ``--list --export`` lists them on the groups and only what
hosts set themselves on the hosts. Both are read: without group variables, a group's
value is the one most of its hosts have (the others are host-level overrides), and a
site-level variable must have one value on every host that has it.

Two parts: ``read`` (the listing into an Inventory: hosts with their roles and host
group, the site's values) and ``topology`` (the Inventory as a topology file). Pure: no
file, no terminal.
"""

from __future__ import annotations

from sepcheck.inventory.read import Inventory, InventoryHost, parse_inventory, read_inventory
from sepcheck.inventory.topology import (
    TopologyGroup,
    topology_error,
    topology_groups,
    topology_toml,
)
from sepcheck.inventory.variables import (
    OS_VAR,
    ROLES_VAR,
    SITE_VARS,
    InventoryError,
    SiteValue,
)

__all__ = [
    "OS_VAR",
    "ROLES_VAR",
    "SITE_VARS",
    "Inventory",
    "InventoryError",
    "InventoryHost",
    "SiteValue",
    "TopologyGroup",
    "parse_inventory",
    "read_inventory",
    "topology_error",
    "topology_groups",
    "topology_toml",
]
