"""Binding: a port a real service holds is skipped and said so; ports below 1024 without
the privilege are named together and the rest still listen; a host without IPv6 listens
on IPv4; TCP sockets never share a port (no SO_REUSEADDR, no SO_REUSEPORT)."""

from __future__ import annotations

import errno
import socket

import pytest

from sepcheck.listen.ports import PortSpec
from sepcheck.listen.sockets import Family, Opener, SkipReason, bind_ports, open_socket
from sepcheck.model import Protocol
from tests.listen.helpers import LOOPBACK

TCP0 = PortSpec(Protocol.TCP, 0)
UDP0 = PortSpec(Protocol.UDP, 0)


@pytest.mark.parametrize("protocol", list(Protocol))
def test_a_port_in_use_is_skipped_and_the_rest_listen(protocol: Protocol) -> None:
    kind = socket.SOCK_STREAM if protocol is Protocol.TCP else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as service:
        service.bind(("127.0.0.1", 0))
        if protocol is Protocol.TCP:
            service.listen(1)
        port = service.getsockname()[1]
        bound = bind_ports([PortSpec(protocol, port), TCP0], ("127.0.0.1",))
        try:
            [skipped] = bound.skipped
            assert (skipped.protocol, skipped.port, skipped.reason) == (
                protocol,
                port,
                SkipReason.IN_USE,
            )
            assert skipped.why.startswith(f"{port} in use by another process: the real service")
            if protocol is Protocol.TCP:
                assert skipped.why.endswith("will answer instead")
            assert [each.protocol for each in bound.listening] == [Protocol.TCP]
        finally:
            bound.close()


def test_a_port_held_on_one_family_is_not_taken_on_the_other() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as service:
        service.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        service.bind(("::1", 0))
        service.listen(1)
        port = service.getsockname()[1]
        bound = bind_ports([PortSpec(Protocol.TCP, port)], LOOPBACK)
        assert bound.listening == ()
        assert [s.reason for s in bound.skipped] == [SkipReason.IN_USE]
        # The IPv4 socket bound first was closed again: the port is free there.
        with socket.socket() as again:
            again.bind(("127.0.0.1", port))


def test_tcp_sockets_never_share_a_port() -> None:
    bound = bind_ports([TCP0], LOOPBACK)
    try:
        for sock in bound.listening[0].sockets:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        assert bound.listening[0].families == (Family.IPV4, Family.IPV6)
    finally:
        bound.close()


def _refusing(code: int, when: Family) -> Opener:
    def opener(protocol: Protocol, address: str, port: int) -> socket.socket:
        family = Family.IPV6 if ":" in address else Family.IPV4
        if family is when and (code != errno.EACCES or 0 < port < 1024):
            raise OSError(code, "refused by the test")
        # Privileged ports of the test become free high ports on loopback.
        return open_socket(protocol, address, 0 if port < 1024 else port)

    return opener


def test_ports_below_1024_without_the_privilege_are_skipped_together() -> None:
    opener = _refusing(errno.EACCES, Family.IPV4)
    specs = [PortSpec(Protocol.TCP, 443), PortSpec(Protocol.UDP, 514), TCP0]
    bound = bind_ports(specs, LOOPBACK, opener=opener)
    try:
        assert [(s.port, s.reason) for s in bound.privileged] == [
            (443, SkipReason.PRIVILEGED),
            (514, SkipReason.PRIVILEGED),
        ]
        assert all("CAP_NET_BIND_SERVICE" in s.why for s in bound.privileged)
        assert len(bound.listening) == 1
    finally:
        bound.close()


def test_a_host_without_ipv6_listens_on_ipv4() -> None:
    opener = _refusing(errno.EAFNOSUPPORT, Family.IPV6)
    bound = bind_ports([TCP0, UDP0], LOOPBACK, opener=opener)
    try:
        assert bound.skipped == ()
        assert [each.families for each in bound.listening] == [(Family.IPV4,)] * 2
    finally:
        bound.close()


def test_another_error_is_said_with_the_port() -> None:
    opener = _refusing(errno.EINVAL, Family.IPV4)
    bound = bind_ports([TCP0], LOOPBACK, opener=opener)
    [skipped] = bound.skipped
    assert skipped.reason is SkipReason.ERROR
    assert skipped.why == "tcp/0: refused by the test"
