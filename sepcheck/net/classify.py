"""The one place where OS error numbers and ICMP type/code become states and reasons.

Sources: nmap's classification (probe-semantics.md), Linux icmp_err_convert, RFC 792 and
RFC 4443, and Winsock's error codes (a refused TCP connect is WSAECONNREFUSED 10061; an
ICMP port unreachable on a connected UDP socket shows up as WSAECONNRESET 10054).
"""

from __future__ import annotations

import errno

from sepcheck.results import State

# Winsock codes, so that one table serves Linux, macOS and Windows.
WSAEACCES = 10013
WSAENETUNREACH = 10051
WSAECONNRESET = 10054
WSAETIMEDOUT = 10060
WSAECONNREFUSED = 10061
WSAEHOSTUNREACH = 10065

_ERRNO: dict[int, tuple[State, str]] = {
    errno.ECONNREFUSED: (State.REFUSED, "conn-refused"),
    WSAECONNREFUSED: (State.REFUSED, "conn-refused"),
    errno.EHOSTUNREACH: (State.FILTERED, "host-unreach"),
    WSAEHOSTUNREACH: (State.FILTERED, "host-unreach"),
    errno.ENETUNREACH: (State.FILTERED, "net-unreach"),
    WSAENETUNREACH: (State.FILTERED, "net-unreach"),
    errno.EACCES: (State.FILTERED, "local-policy"),
    errno.EPERM: (State.FILTERED, "local-policy"),
    WSAEACCES: (State.FILTERED, "local-policy"),
    errno.ETIMEDOUT: (State.FILTERED, "no-response"),
    WSAETIMEDOUT: (State.FILTERED, "no-response"),
}
if hasattr(errno, "EHOSTDOWN"):
    _ERRNO[errno.EHOSTDOWN] = (State.FILTERED, "host-unreach")
if hasattr(errno, "ENONET"):
    _ERRNO[errno.ENONET] = (State.FILTERED, "net-unreach")


def classify_errno(number: int, *, udp: bool = False) -> tuple[State, str] | None:
    """State and reason for an errno from connect(), send() or recv(); None if unknown."""
    if number == WSAECONNRESET and udp:
        return (State.REFUSED, "port-unreach")
    if number in (errno.ECONNREFUSED, WSAECONNREFUSED) and udp:
        return (State.REFUSED, "port-unreach")
    return _ERRNO.get(number)


_ICMP4_UNREACH = {
    0: (State.FILTERED, "net-unreach"),
    1: (State.FILTERED, "host-unreach"),
    2: (State.FILTERED, "proto-unreach"),
    3: (State.REFUSED, "port-unreach"),
    6: (State.FILTERED, "net-unreach"),  # destination network unknown
    7: (State.FILTERED, "host-unreach"),  # destination host unknown
    9: (State.FILTERED, "net-prohibited"),
    10: (State.FILTERED, "host-prohibited"),
    11: (State.FILTERED, "net-unreach"),  # for type of service
    12: (State.FILTERED, "host-unreach"),  # for type of service
    13: (State.FILTERED, "admin-prohibited"),
}
_ICMP6_UNREACH = {
    0: (State.FILTERED, "net-unreach"),  # no route to destination
    1: (State.FILTERED, "admin-prohibited"),
    2: (State.FILTERED, "beyond-scope"),
    3: (State.FILTERED, "host-unreach"),  # address unreachable
    4: (State.REFUSED, "port-unreach"),
    5: (State.FILTERED, "policy-fail"),  # source address failed ingress/egress policy
    6: (State.FILTERED, "reject-route"),
}


def classify_icmp(version: int, icmp_type: int, code: int) -> tuple[State, str] | None:
    """State and reason for an ICMP (v4) or ICMPv6 error about our probe."""
    if version == 4:
        if icmp_type == 3:
            return _ICMP4_UNREACH.get(code, (State.FILTERED, f"unreach-code-{code}"))
        if icmp_type == 11:
            return (State.FILTERED, "time-exceeded")
        return None
    if icmp_type == 1:
        return _ICMP6_UNREACH.get(code, (State.FILTERED, f"unreach-code-{code}"))
    if icmp_type == 3:
        return (State.FILTERED, "time-exceeded")
    return None
