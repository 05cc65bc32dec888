"""Facts about the host sepcheck runs on: its names and interface addresses."""

from __future__ import annotations

import ipaddress
import socket

import psutil

from sepcheck.hosts import IPAddress


def local_addresses() -> list[IPAddress]:
    """Every IPv4 and IPv6 address configured on this host's interfaces."""
    found: list[IPAddress] = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                found.append(ipaddress.ip_address(entry.address.split("%", 1)[0]))
            except ValueError:
                continue
    return found


def local_names() -> list[str]:
    """The host name and its short form. No DNS look-up: inferring a role must not hang
    on a resolver that cannot be reached."""
    name = socket.gethostname()
    return sorted({name, name.split(".", 1)[0]})
