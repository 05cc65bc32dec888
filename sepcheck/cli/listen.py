"""`sepcheck listen`: the responder, on the host a check probes (a future manager, a client,
a GUP, the syslog server), before or after SEP is installed.

The options become a ``ListenOptions`` value, checked into a ``ListenJob`` by
``build_job`` (pure: tests build jobs without a terminal); the responder itself
(``sepcheck.listen``) never prints: what it sees comes to ``_Printer`` as events.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sepcheck.cli.app import CatalogueOption, app, friendly_errors
from sepcheck.errors import UsageError
from sepcheck.model import Protocol, Role

if TYPE_CHECKING:
    from sepcheck.listen.events import Event
    from sepcheck.listen.ports import PortSpec
    from sepcheck.listen.sockets import Bound

DEFAULT_DURATION = "30m"
MAX_DURATION = 24 * 3600.0
ADDRESSES_ENV = "SEPCHECK_LISTEN_ADDRESSES"
"""Local addresses to listen on instead of the wildcards (comma-separated)."""
_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")
_UNITS = {"h": 3600, "m": 60, "s": 1}

TopologyOption = Annotated[
    Path | None,
    typer.Option("--topology", "-t", help="Topology TOML file.", show_default=False),
]
AsOption = Annotated[
    list[Role] | None,
    typer.Option(
        "--as",
        help="Role this host plays (repeatable): listen on every port it receives.",
        show_default=False,
    ),
]
PortsOption = Annotated[
    str | None,
    typer.Option(
        "--ports",
        help="Ports to listen on, instead of --topology: tcp/8014,tcp/443,udp/514.",
        show_default=False,
    ),
]
ForOption = Annotated[
    str,
    typer.Option("--for", help="How long to listen: 90s, 30m, 2h (at most 24h)."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Reuse this responder token (32 hex digits); default: a new one.",
        show_default=False,
        envvar="SEPCHECK_RESPONDER_TOKEN",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the JSON report here, atomically.", show_default=False
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No line per probe: only the start and the summary."),
]


@dataclass(frozen=True)
class ListenOptions:
    topology_path: Path | None = None
    roles: tuple[Role, ...] = ()
    ports: str | None = None
    duration: str = DEFAULT_DURATION
    token: str | None = None
    output: Path | None = None
    quiet: bool = False
    catalogue_path: Path | None = None
    addresses: str | None = None
    """SEPCHECK_LISTEN_ADDRESSES, as set."""


@dataclass(frozen=True)
class ListenJob:
    ports: tuple[PortSpec, ...]
    duration: float
    token: str
    """32 lower-case hex digits."""
    key: bytes
    addresses: tuple[str, ...]
    output: Path | None
    quiet: bool
    topology_path: Path | None


def parse_duration(text: str) -> float:
    """Seconds of ``--for``: 90s, 30m, 2h, 1h30m; from 1 second to 24 hours."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None:
        raise UsageError(
            f"--for: {text!r} is not a duration", hint="write it with a unit: 90s, 30m or 2h"
        )
    seconds = float(sum(int(match[u]) * n for u, n in _UNITS.items() if match[u]))
    if not 1 <= seconds <= MAX_DURATION:
        raise UsageError(f"--for: {text} is out of range", hint="from 1s to 24h")
    return seconds


def _token(text: str | None) -> tuple[str, bytes]:
    from sepcheck.net.beacon import TokenError, new_token, parse_token

    token = "".join((text or new_token()).split()).lower()
    try:
        return token, parse_token(token)
    except TokenError as exc:
        raise UsageError(
            f"--token: {exc}", hint="copy it as printed, or leave --token out for a new one"
        ) from None


def _addresses(text: str | None) -> tuple[str, ...]:
    from sepcheck.listen.sockets import WILDCARDS

    if text is None:
        return WILDCARDS
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise UsageError(
                f"{ADDRESSES_ENV}: {item!r} is not an IP address",
                hint="list local addresses separated by commas, or unset it",
            ) from None
    if not items:
        raise UsageError(f"{ADDRESSES_ENV} is empty", hint="unset it to listen on every address")
    return tuple(items)


def _ports(options: ListenOptions) -> tuple[PortSpec, ...]:
    from sepcheck.listen.ports import parse_ports, role_ports

    site = options.topology_path is not None or bool(options.roles)
    if options.ports is not None and site:
        raise UsageError(
            "--ports cannot be mixed with --topology/--as",
            hint="give either --topology FILE --as ROLE, or --ports LIST",
        )
    if options.ports is not None:
        return parse_ports(options.ports)
    if options.topology_path is None or not options.roles:
        missing = "--as ROLE" if not options.roles else "--topology FILE"
        raise UsageError(
            f"no ports to listen on: {missing} is missing"
            if site
            else "no ports to listen on: give --topology FILE --as ROLE, or --ports LIST",
            hint="e.g. sepcheck listen --topology site.toml --as manager",
        )
    from sepcheck.catalogue import load_catalogue
    from sepcheck.topology import load_topology

    catalogue = load_catalogue(options.catalogue_path)
    topology = load_topology(options.topology_path, catalogue)
    found = tuple(
        dict.fromkeys(
            spec for role in options.roles for spec in role_ports(catalogue, topology, role)
        )
    )
    if not found:
        named = " or ".join(role.value for role in options.roles)
        raise UsageError(
            f"no ports to listen on: no flow of this site goes to a {named}",
            hint="check --as, or name the ports with --ports LIST",
        )
    return found


def with_query_twins(ports: tuple[PortSpec, ...]) -> tuple[PortSpec, ...]:
    """``ports`` and, for each UDP port, the TCP port of the same number: a prober asks
    there, over TCP, whether its datagrams arrived (one-way paths, filtered UDP), also on
    a host that receives only UDP (a syslog server)."""
    from sepcheck.listen.ports import PortSpec as Spec

    twins = [Spec(Protocol.TCP, spec.port) for spec in ports if spec.protocol is Protocol.UDP]
    return tuple(dict.fromkeys([*ports, *twins]))


def build_job(options: ListenOptions) -> ListenJob:
    """The job of ``options``, or a UsageError saying what is wrong (nothing is bound)."""
    from sepcheck.cli.validate import check_output

    ports = with_query_twins(_ports(options))
    duration = parse_duration(options.duration)
    token, key = _token(options.token)
    if options.output is not None:
        if options.output.suffix.lower() != ".json":
            raise UsageError(
                f"--output {options.output}: the responder's report is JSON",
                hint="name it FILE.json",
            )
        check_output(options.output)
    return ListenJob(
        ports=ports,
        duration=duration,
        token=token,
        key=key,
        addresses=_addresses(options.addresses),
        output=options.output,
        quiet=options.quiet,
        topology_path=options.topology_path,
    )


def event_line(event: Event) -> str:
    """One line per message seen: 'tcp/8014 from 198.18.1.2:40112 probe answered'."""
    from sepcheck.listen.events import What

    source = event.source
    head = f"{event.protocol.value}/{event.port} from {source}"
    if event.what is What.RATE_LIMITED:
        return f"{head} refused by the rate limit"
    done = "answered" if event.answered else "not answered"
    if event.what is What.REDIRECTED:
        return f"{head} probe for port {event.aimed} {done} (redirected on the way)"
    if event.what is What.QUERY:
        seen = event.seen
        said = f"seen from {seen.source}" if seen else "not seen"
        about = f" about port {event.aimed}" if event.aimed else ""
        return f"{head} query{about} {done} (its UDP probe {said})"
    return f"{head} probe {done}"


def start_lines(job: ListenJob, bound: Bound) -> list[str]:
    """What the responder says when it starts: ports, skipped ports, token, the hint."""
    listening = ", ".join(
        f"{each.protocol.value}/{each.port} ({', '.join(f.value for f in each.families)})"
        for each in bound.listening
    )
    lines = [f"sepcheck listen: listening on {listening}"]
    lines += [
        f"sepcheck listen: skipped {s.protocol.value}/{s.port}: {s.why}"
        for s in bound.skipped
        if s not in bound.privileged
    ]
    if bound.privileged:
        named = ", ".join(f"{s.protocol.value}/{s.port}" for s in bound.privileged)
        lines.append(
            f"sepcheck listen: skipped {named}: ports below 1024 need root or the "
            "CAP_NET_BIND_SERVICE capability; listening on the rest"
        )
    site = f"--topology {job.topology_path}" if job.topology_path is not None else "..."
    lines += [
        f"sepcheck listen: token {job.token}, for {span(job.duration)} (Ctrl-C stops earlier)",
        f"  on the hosts that connect here: sepcheck check {site} --responder-token {job.token}",
    ]
    return lines


def span(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


@app.command("listen")
@friendly_errors
def listen_command(
    topology_path: TopologyOption = None,
    roles: AsOption = None,
    ports: PortsOption = None,
    duration: ForOption = DEFAULT_DURATION,
    token: TokenOption = None,
    output: OutputOption = None,
    quiet: QuietOption = False,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Answer the probes of `sepcheck check` on the ports this host receives, so that a
    check before installation can tell a working path from a refused one.

    Answers only probes that carry the run's token (printed at start, given to `check`
    with --responder-token), never over a port a real service holds. SEPCHECK_LISTEN_ADDRESSES
    (comma-separated) listens on these local addresses only, instead of every address.
    """
    options = ListenOptions(
        topology_path=topology_path,
        roles=tuple(roles or ()),
        ports=ports,
        duration=duration,
        token=token,
        output=output,
        quiet=quiet,
        catalogue_path=catalogue_path,
        addresses=os.environ.get(ADDRESSES_ENV),
    )
    from sepcheck.cli.listen_run import run_listen

    raise typer.Exit(run_listen(build_job(options)))
