"""Which ports the responder listens on: --ports parsed strictly, or the ports a role
receives on a site (reachable network flows toward it, after the port overrides)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.errors import UsageError
from sepcheck.listen.ports import PortSpec, parse_ports, role_ports
from sepcheck.model import Protocol, Role
from sepcheck.topology import load_topology

TCP, UDP = Protocol.TCP, Protocol.UDP


def test_ports_in_the_order_given() -> None:
    assert parse_ports("tcp/8014, TCP/443,udp/514") == (
        PortSpec(TCP, 8014),
        PortSpec(TCP, 443),
        PortSpec(UDP, 514),
    )
    assert parse_ports("tcp/8014,udp/8014") == (PortSpec(TCP, 8014), PortSpec(UDP, 8014))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no port given"),
        ("  ", "no port given"),
        ("tcp/8014,", "empty item"),
        ("tcp/8014,,udp/514", "empty item"),
        ("8014", "'8014' is not PROTOCOL/PORT"),
        ("tcp:8014", "is not PROTOCOL/PORT"),
        ("tcp/80-90", "is not PROTOCOL/PORT"),
        ("tcp/+80", "is not PROTOCOL/PORT"),
        ("sctp/80", "unknown protocol 'sctp'"),
        ("tcp/0", "no such port"),
        ("tcp/65536", "no such port"),
        ("tcp/080", "no such port"),
        ("tcp/443,tcp/443", "tcp/443 is listed twice"),
    ],
)
def test_bad_ports_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_ports(text)
    assert caught.value.message.startswith("--ports: ")
    assert words in caught.value.message
    assert caught.value.hint


SITE = """
sep_version = "14.3 RU8"
features = ["windows_push"]
[roles.manager]
hosts = ["198.18.0.10"]
[roles.client]
hosts = ["198.18.1.0/28"]
[roles.gup]
hosts = ["198.18.2.5"]
[ports]
client-manager-http = 18014
[flows]
skip = ["remote_console-manager-web-console"]
"""


def _site(write: Callable[[str, str], Path], catalogue: Catalogue, role: Role) -> set[str]:
    topology = load_topology(write("site.toml", SITE), catalogue)
    return {str(spec) for spec in role_ports(catalogue, topology, role)}


def test_a_manager_listens_on_what_it_receives(
    write: Callable[[str, str], Path], catalogue: Catalogue
) -> None:
    ports = _site(write, catalogue, Role.MANAGER)
    assert {"tcp/18014", "tcp/443", "tcp/8443", "tcp/8445", "tcp/8446"} <= ports
    assert "tcp/8014" not in ports  # overridden to 18014
    assert "tcp/9090" not in ports  # skipped by the site
    assert "tcp/8444" not in ports  # Protection Center: 12.1.x only
    # Must-not-reach ports stay closed, local ones are not the network's.
    assert not {"tcp/8447", "tcp/8765", "tcp/1100", "tcp/2638"} & ports


def test_a_gup_also_listens_as_a_client(
    write: Callable[[str, str], Path], catalogue: Catalogue
) -> None:
    gup = _site(write, catalogue, Role.GUP)
    client = _site(write, catalogue, Role.CLIENT)
    assert client
    assert client < gup
    assert "tcp/445" in client  # windows_push is on
