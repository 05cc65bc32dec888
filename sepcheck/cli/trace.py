"""`sepcheck trace`: where along the path a flow dies (raw mode, rising TTL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from sepcheck.cli.app import (
    EXIT_FINDINGS,
    EXIT_OK,
    CatalogueOption,
    TableOrJson,
    app,
    friendly_errors,
    require_raw,
    resolve_vantage,
    stderr_console,
    stdout_console,
    stdout_or_fail,
    write_chunks,
)
from sepcheck.cli.validate import RATE_RANGE, bounded
from sepcheck.errors import UsageError
from sepcheck.model import Protocol, Role

if TYPE_CHECKING:
    from sepcheck.payloads import PayloadSet
    from sepcheck.plan import FlowPlan
    from sepcheck.trace import TraceReport, TraceSettings, TraceTarget

MAX_TRACED = 16
"""Destinations one `trace FLOW` may trace without naming a host."""
DEFAULT_RATE = 20_000.0
"""``TraceSettings.rate`` (the engine's default rate), written out: the command line is
built without loading the engine (tests/test_startup.py holds the two equal)."""


def _address_of(host: str, family: int) -> str:
    import socket

    try:
        infos = socket.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"{host}: name does not resolve ({exc.strerror})") from None
    return str(infos[0][4][0])


def _targets(
    first: str,
    second: str | None,
    port: int | None,
    protocol: Protocol,
    topology_path: Path | None,
    as_roles: list[Role] | None,
    catalogue_path: Path | None,
    family: int,
    payloads: PayloadSet,
) -> list[TraceTarget]:
    from sepcheck.trace import TraceTarget

    def payload(proto: Protocol, number: int) -> bytes:
        return payloads.for_port(number).render(number) if proto is Protocol.UDP else b""

    if topology_path is None:
        if second is not None:
            raise UsageError(
                f"unexpected argument {second!r}",
                hint="trace HOST --port N, or trace --topology FILE FLOW_ID [HOST]",
            )
        if port is None:
            raise UsageError(
                "trace HOST needs --port N", hint="e.g. sepcheck trace sepm01 --port 8014"
            )
        address = _address_of(first, family)
        return [TraceTarget(first, address, protocol, port, None, payload(protocol, port))]
    if port is not None:
        raise UsageError(
            "--port cannot be mixed with --topology: the catalogue entry gives the port",
            hint="leave out --port, or leave out --topology and name the host",
        )
    flow = _flow(first, topology_path, as_roles, catalogue_path)
    targets: list[TraceTarget] = []
    for probe in flow.probes():
        if second is not None and second not in (probe.host, probe.address, probe.spec):
            continue
        if len(targets) == MAX_TRACED:
            raise UsageError(
                f"{first}: more than {MAX_TRACED} destinations",
                hint=f"name one: sepcheck trace --topology {topology_path} {first} HOST",
            )
        address = probe.address or _address_of(probe.host, family)
        targets.append(
            TraceTarget(
                probe.host,
                address,
                probe.protocol,
                probe.port,
                probe.flow,
                payload(probe.protocol, probe.port),
            )
        )
    if not targets:
        raise UsageError(
            f"{first}: {second} is not one of its destinations",
            hint="`sepcheck plan` lists each flow's destinations",
        )
    return targets


def _flow(
    flow_id: str, topology_path: Path, as_roles: list[Role] | None, catalogue_path: Path | None
) -> FlowPlan:
    """The flow ``flow_id`` as this host sends it on the site of ``topology_path``."""
    from sepcheck.catalogue import load_catalogue
    from sepcheck.plan import build_plan
    from sepcheck.topology import load_topology

    catalogue = load_catalogue(catalogue_path)
    if catalogue.get(flow_id) is None:
        raise UsageError(
            f"no catalogue entry {flow_id!r}",
            hint="`sepcheck catalogue` lists the entry ids",
        )
    topology = load_topology(topology_path, catalogue)
    plan = build_plan(catalogue, topology, resolve_vantage(as_roles, topology))
    flows = [f for f in plan.flows if f.entry.id == flow_id]
    if not flows:
        why = next((s.detail for s in plan.skipped if s.entry.id == flow_id), None)
        raise UsageError(
            f"{flow_id}: not a flow this host sends"
            + (f" ({why})" if why else " (its source role is not one this host plays)"),
            hint="check --as, or `sepcheck plan` to see this host's flows",
        )
    return flows[0]


async def _trace_all(targets: list[TraceTarget], settings: TraceSettings) -> list[TraceReport]:
    """Trace each target in turn over one raw backend."""
    from sepcheck.net.raw.backend import RawBackend
    from sepcheck.trace import trace

    backend = RawBackend()
    try:
        return [await trace(backend, item, settings) for item in targets]
    finally:
        backend.close()


@app.command("trace")
@friendly_errors
def trace_command(
    target: Annotated[
        str, typer.Argument(help="HOST to trace; with --topology, a catalogue FLOW_ID.")
    ],
    host: Annotated[
        str | None,
        typer.Argument(help="With --topology: which destination of the flow (default: all)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", "-p", min=1, max=65535, help="Destination port (without --topology)."
        ),
    ] = None,
    protocol: Annotated[Protocol, typer.Option("--protocol", help="tcp or udp.")] = Protocol.TCP,
    topology_path: Annotated[
        Path | None,
        typer.Option("--topology", "-t", help="Trace a catalogue flow of this topology."),
    ] = None,
    as_roles: Annotated[
        list[Role] | None,
        typer.Option("--as", help="Role this host plays (with --topology).", show_default=False),
    ] = None,
    max_hops: Annotated[
        int, typer.Option("--max-hops", min=1, max=64, help="Highest TTL probed.")
    ] = 30,
    tries: Annotated[int, typer.Option("--tries", min=1, max=10, help="Probes per hop.")] = 2,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.05,
            max=3600,
            help="Wait per probe, seconds (as check's, at most 3600).",
        ),
    ] = 1.0,
    rate: Annotated[
        float,
        typer.Option("--rate", min=0, help="Packets per second, as check's (0: no limit)."),
    ] = DEFAULT_RATE,
    output_format: Annotated[
        TableOrJson, typer.Option("--format", "-f", help="Output format.")
    ] = TableOrJson.TABLE,
    ipv4: Annotated[bool, typer.Option("-4", help="Resolve names to IPv4 only.")] = False,
    ipv6: Annotated[bool, typer.Option("-6", help="Resolve names to IPv6 only.")] = False,
    catalogue_path: CatalogueOption = None,
) -> None:
    """Probe a flow's real port with rising TTL: each hop that answers, the last one the
    flow passes and where it dies. Needs root or CAP_NET_RAW. Exit 1 when the
    destination is not reached."""
    import asyncio
    import socket

    from sepcheck.payloads import load_payloads
    from sepcheck.trace import TraceSettings

    require_raw("trace")
    rate = bounded("--rate", rate, *RATE_RANGE, zero="no limit")
    if ipv4 and ipv6:
        raise UsageError("-4 and -6 exclude each other", hint="give one of them, or neither")
    family = socket.AF_INET if ipv4 else socket.AF_INET6 if ipv6 else socket.AF_UNSPEC
    targets = _targets(
        target,
        host,
        port,
        protocol,
        topology_path,
        as_roles,
        catalogue_path,
        family,
        load_payloads(),
    )
    settings = TraceSettings(max_hops=max_hops, tries=tries, timeout=timeout, rate=rate)
    try:
        reports = asyncio.run(_trace_all(targets, settings))
    except KeyboardInterrupt:
        stderr_console().print("sepcheck: trace interrupted", markup=False)
        raise typer.Exit(130) from None
    _show(reports, output_format)


def _show(reports: list[TraceReport], output_format: TableOrJson) -> NoReturn:
    """The traces on stdout, their summaries on stderr; exit 1 when one did not arrive."""
    from sepcheck.render.trace import trace_summary, trace_table, traces_json

    if output_format is TableOrJson.JSON:
        write_chunks([traces_json(reports)])
    else:
        console = stdout_console()

        def show() -> None:
            for report in reports:
                console.print(trace_table(report))

        stdout_or_fail(show)
    err = stderr_console()
    for report in reports:
        err.print(trace_summary(report))
    raise typer.Exit(EXIT_OK if all(r.reached for r in reports) else EXIT_FINDINGS)
