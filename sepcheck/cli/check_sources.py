"""What a check reads before probing, from the options: the topology (a file, or hosts
given as options) and the baseline report to compare with. Bad input is a UsageError (or
the reader's own error), said before the first probe."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sepcheck.cli.check_options import CheckOptions, FailOn
from sepcheck.errors import SepcheckError, UsageError
from sepcheck.model import ROLE_NAMES, Role
from sepcheck.render.formats import Extension

if TYPE_CHECKING:
    # The baseline's modules (report loading, the diff) load only for --baseline, the
    # archive's only for --output-dir; the topology's when a check reads its site.
    from sepcheck.archive import Archive
    from sepcheck.catalogue import Catalogue
    from sepcheck.diff import Baseline
    from sepcheck.topology import Topology

PREVIOUS = "previous"
"""--baseline previous: this host's newest report in --output-dir."""

_OPTION_OF_KEY = {
    "management_server_list": "--management-server-list",
    "sep_version": "--sep-version",
    "features": "--feature",
}


_HOST_KEY = re.compile(r"^roles\.(?P<role>\w+)\.hosts\[(?P<index>\d+)\]$")
_QUICK_OPTION = {
    Role.MANAGER: "--manager",
    Role.GUP: "--gup",
    Role.DATABASE: "--database",
    Role.CLIENT: "--client",
    Role.SYSLOG: "--syslog",
}


def parse_host_option(item: str) -> tuple[Role, str]:
    """--host ROLE=HOST, as a role and a host."""
    name, sep, host = item.partition("=")
    try:
        role = Role(name.strip())
    except ValueError:
        raise UsageError(
            f"--host {item!r}: unknown role {name.strip()!r}",
            hint=f"write --host ROLE=HOST with ROLE one of: {ROLE_NAMES}",
        ) from None
    if not sep or not host.strip():
        raise UsageError(f"--host {item!r}: no host", hint="write --host ROLE=HOST")
    return role, host.strip()


def _quick_hosts(options: CheckOptions) -> dict[Role, tuple[str, ...]]:
    """The hosts of --manager, --gup, ..., by role."""
    o = options
    quick = (o.manager, o.gup, o.database, o.client, o.syslog)
    return dict(zip(_QUICK_OPTION, quick, strict=True))


def _role_hosts(options: CheckOptions) -> dict[Role, list[str]]:
    """The hosts of each role, from --manager, --gup, ... and --host ROLE=HOST."""
    role_hosts = {role: list(hosts) for role, hosts in _quick_hosts(options).items() if hosts}
    for item in options.extra_hosts:
        role, host = parse_host_option(item)
        role_hosts.setdefault(role, []).append(host)
    return role_hosts


_HOST_OPTIONS = frozenset({"--manager", "--gup", "--database", "--client", "--syslog", "--host"})


def _quick_options(options: CheckOptions) -> list[str]:
    """The site-describing options given, by name, as the user typed them."""
    o = options
    named = {
        "--manager": o.manager,
        "--gup": o.gup,
        "--database": o.database,
        "--client": o.client,
        "--syslog": o.syslog,
        "--host": o.extra_hosts,
        "--feature": o.features,
        "--sep-version": o.sep_version,
        "--management-server-list": o.management_server_list,
    }
    return [option for option, value in named.items() if value]


def _topology_from_environment() -> bool:
    """Whether --topology's value came from SEPCHECK_TOPOLOGY alone. Only click knows;
    outside a command (the job built in tests) no value came from the environment."""
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    return ctx is not None and (
        ctx.get_parameter_source("topology_path") is ParameterSource.ENVIRONMENT
    )


def read_topology(options: CheckOptions, catalogue: Catalogue) -> Topology:
    """The site: the --topology file, or the hosts and settings given as options."""
    from sepcheck.topology import load_topology, topology_from_hosts

    given = _quick_options(options)
    # Hosts given on the command line win over SEPCHECK_TOPOLOGY, as every option wins
    # over its variable (silently, as they do). Settings alone describe no site: with
    # them, the variable's topology is kept and the mix refused.
    hosts_given = any(option in _HOST_OPTIONS for option in given)
    if options.topology_path is not None and not (hosts_given and _topology_from_environment()):
        if given:
            raise UsageError(
                f"{' and '.join(given)} cannot be mixed with --topology: the site comes "
                "from the topology file",
                hint="put them in the topology file, or leave out --topology",
            )
        return load_topology(options.topology_path, catalogue, allow_large=options.allow_large)
    role_hosts = _role_hosts(options)
    if not role_hosts:
        raise UsageError(
            "nothing to check: give --topology FILE, or hosts with --manager HOST, "
            "--gup HOST, ... or --host ROLE=HOST",
            hint="e.g. sepcheck check --as client --manager sepm01.example.test",
        )
    try:
        return topology_from_hosts(
            role_hosts,
            catalogue,
            sep_version=options.sep_version,
            features=options.features,
            allow_large=options.allow_large,
            management_server_list=options.management_server_list,
        )
    except SepcheckError as exc:
        # Options have no file and line: name the option the user typed instead of the
        # topology key.
        key = exc.location.key if exc.location and exc.location.key else ""
        key = _option_of_key(key, role_hosts, options)
        raise UsageError(f"{key}: {exc.message}" if key else exc.message, hint=exc.hint) from None


def _option_of_key(key: str, role_hosts: dict[Role, list[str]], options: CheckOptions) -> str:
    """The option (with its value, for a host) behind a topology key of an error."""
    host = _HOST_KEY.match(key)
    if host is not None:
        role, index = Role(host["role"]), int(host["index"])
        hosts = role_hosts.get(role, [])
        if index < len(hosts):
            # A role's hosts list its quick option's first, then its --host ROLE=HOST.
            if index < len(_quick_hosts(options).get(role, ())):
                return f'{_QUICK_OPTION[role]} "{hosts[index]}"'
            return f'--host "{role.value}={hosts[index]}"'
    for prefix, option in _OPTION_OF_KEY.items():
        if key.startswith(prefix):
            return option
    return key


@dataclass(frozen=True)
class BaselineSource:
    """The report to compare the run with: its path, for the summary line, and its
    results indexed for the diff."""

    path: Path
    index: Baseline


def read_baseline(
    options: CheckOptions, archive: Archive | None, say: Callable[[str], None]
) -> BaselineSource | None:
    """The baseline of --baseline, 'previous' included; None without one (also when
    'previous' finds no earlier report: the first scheduled run, where nothing can have
    regressed). The file is read now: a bad one stops the run before minutes of probing."""
    path = options.baseline
    wants_previous = path is not None and str(path) == PREVIOUS
    if wants_previous:
        if archive is None:
            raise UsageError(
                "--baseline previous needs --output-dir DIR",
                hint="or give the path of an earlier report",
            )
        if options.dir_formats and Extension.JSON not in options.dir_formats:
            # Only JSON reports are read back: without them every run would find no
            # earlier report, compare with nothing, and pass whatever regressed.
            formats = ", ".join(dict.fromkeys(options.dir_formats))
            raise UsageError(
                "--baseline previous compares with the last JSON report in --output-dir, "
                f"but --output-dir-format writes no json (only {formats})",
                hint="add --output-dir-format json",
            )
        path = archive.latest(Extension.JSON)
        if path is None:
            say(
                f"sepcheck: no earlier report of this host in {options.output_dir}: nothing "
                "to compare with yet"
            )
    if options.fail_on is FailOn.REGRESSION and path is None and not wants_previous:
        raise UsageError(
            "--fail-on regression needs --baseline REPORT",
            hint="with --output-dir, --baseline previous compares with the last run",
        )
    if path is None:
        return None
    from sepcheck.diff import Baseline

    return BaselineSource(path, Baseline.read(path))
