"""What a check reads before probing, from the options: the topology (a file, or hosts
given as options) and the baseline report to compare with. Bad input is a UsageError (or
the reader's own error), said before the first probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sepcheck.cli.check_options import CheckOptions, FailOn
from sepcheck.errors import SepcheckError, UsageError
from sepcheck.model import ROLE_NAMES, Role

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


def _role_hosts(options: CheckOptions) -> dict[Role, list[str]]:
    """The hosts of each role, from --manager, --gup, ... and --host ROLE=HOST."""
    quick = {
        Role.MANAGER: options.manager,
        Role.GUP: options.gup,
        Role.DATABASE: options.database,
        Role.CLIENT: options.client,
        Role.SYSLOG: options.syslog,
    }
    role_hosts = {role: list(hosts) for role, hosts in quick.items() if hosts}
    for item in options.extra_hosts:
        role, host = parse_host_option(item)
        role_hosts.setdefault(role, []).append(host)
    return role_hosts


def read_topology(options: CheckOptions, catalogue: Catalogue) -> Topology:
    """The site: the --topology file, or the hosts and settings given as options."""
    from sepcheck.topology import load_topology, topology_from_hosts

    if options.topology_path is not None:
        o = options
        quick = (o.manager, o.gup, o.database, o.client, o.syslog, o.extra_hosts, o.features)
        if any(quick) or o.sep_version or o.management_server_list:
            raise UsageError(
                "host, --sep-version, --feature and --management-server-list options cannot "
                "be mixed with --topology",
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
        for prefix, option in _OPTION_OF_KEY.items():
            if key.startswith(prefix):
                key = option
        raise UsageError(f"{key}: {exc.message}" if key else exc.message, hint=exc.hint) from None


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
        path = archive.latest("json")
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
    from sepcheck.report.load import load_report

    return BaselineSource(path, Baseline.of(load_report(path)))
