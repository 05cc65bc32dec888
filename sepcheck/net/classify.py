"""The one place where OS error numbers and ICMP type/code become outcomes (only net/ calls it).

Sources: nmap's port states (its reference guide, "Port Scanning Basics"), Linux
icmp_err_convert, RFC 792 and RFC 4443, and Winsock's error codes (a refused TCP connect is
WSAECONNREFUSED 10061; an ICMP port unreachable on a connected UDP socket shows up as
WSAECONNRESET 10054).
"""

from __future__ import annotations

import errno

from sepcheck.net.outcome import Outcome, Seen

# Winsock codes, so that one table serves Linux, macOS and Windows.
WSAEACCES = 10013
WSAENETUNREACH = 10051
WSAECONNRESET = 10054
WSAETIMEDOUT = 10060
WSAECONNREFUSED = 10061
WSAEHOSTUNREACH = 10065

_ERRNO: dict[int, tuple[Seen, str]] = {
    errno.ECONNREFUSED: (Seen.REFUSED, "conn-refused"),
    WSAECONNREFUSED: (Seen.REFUSED, "conn-refused"),
    errno.EHOSTUNREACH: (Seen.FILTERED, "host-unreach"),
    WSAEHOSTUNREACH: (Seen.FILTERED, "host-unreach"),
    errno.ENETUNREACH: (Seen.FILTERED, "net-unreach"),
    WSAENETUNREACH: (Seen.FILTERED, "net-unreach"),
    errno.EACCES: (Seen.FILTERED, "local-policy"),
    errno.EPERM: (Seen.FILTERED, "local-policy"),
    WSAEACCES: (Seen.FILTERED, "local-policy"),
    errno.ETIMEDOUT: (Seen.FILTERED, "no-response"),
    WSAETIMEDOUT: (Seen.FILTERED, "no-response"),
}
if hasattr(errno, "EHOSTDOWN"):
    _ERRNO[errno.EHOSTDOWN] = (Seen.FILTERED, "host-unreach")
if hasattr(errno, "ENONET"):
    _ERRNO[errno.ENONET] = (Seen.FILTERED, "net-unreach")


_PROHIBITED = frozenset({errno.EACCES, errno.EPERM, WSAEACCES})


def classify_errno(
    number: int, *, udp: bool = False, arrived: bool = False
) -> tuple[Seen, str] | None:
    """State and reason for an errno from connect(), send() or recv(); None if unknown.
    ``arrived``: the error came back after the packet left (SO_ERROR of a connect under
    way, a recv), so it reports an ICMP error, not this host's stack. Permission errors
    then mean a device prohibited the flow (Linux turns an ICMPv6 administratively
    prohibited into EACCES), not a local firewall: those fail connect() or send() at once."""
    if arrived and number in _PROHIBITED:
        return (Seen.FILTERED, "admin-prohibited")
    if number == WSAECONNRESET and udp:
        return (Seen.REFUSED, "port-unreach")
    if number in (errno.ECONNREFUSED, WSAECONNREFUSED) and udp:
        return (Seen.REFUSED, "port-unreach")
    return _ERRNO.get(number)


_ICMP4_UNREACH = {
    0: (Seen.FILTERED, "net-unreach"),
    1: (Seen.FILTERED, "host-unreach"),
    2: (Seen.FILTERED, "proto-unreach"),
    3: (Seen.REFUSED, "port-unreach"),
    6: (Seen.FILTERED, "net-unreach"),  # destination network unknown
    7: (Seen.FILTERED, "host-unreach"),  # destination host unknown
    9: (Seen.FILTERED, "net-prohibited"),
    10: (Seen.FILTERED, "host-prohibited"),
    11: (Seen.FILTERED, "net-unreach"),  # for type of service
    12: (Seen.FILTERED, "host-unreach"),  # for type of service
    13: (Seen.FILTERED, "admin-prohibited"),
}
_ICMP6_UNREACH = {
    0: (Seen.FILTERED, "net-unreach"),  # no route to destination
    1: (Seen.FILTERED, "admin-prohibited"),
    2: (Seen.FILTERED, "beyond-scope"),
    3: (Seen.FILTERED, "host-unreach"),  # address unreachable
    4: (Seen.REFUSED, "port-unreach"),
    5: (Seen.FILTERED, "policy-fail"),  # source address failed ingress/egress policy
    6: (Seen.FILTERED, "reject-route"),
}


def classify_icmp(version: int, icmp_type: int, code: int) -> tuple[Seen, str] | None:
    """Seen and reason for an ICMP (v4) or ICMPv6 error about our probe."""
    if version == 4:
        if icmp_type == 3:
            return _ICMP4_UNREACH.get(code, (Seen.FILTERED, f"unreach-code-{code}"))
        if icmp_type == 11:
            return (Seen.FILTERED, "time-exceeded")
        return None
    if icmp_type == 1:
        return _ICMP6_UNREACH.get(code, (Seen.FILTERED, f"unreach-code-{code}"))
    if icmp_type == 3:
        return (Seen.FILTERED, "time-exceeded")
    return None


def errno_outcome(
    number: int, rtt: float | None = None, *, udp: bool, arrived: bool = False
) -> Outcome:
    """The outcome of a try that failed with OS error ``number``. A RST (or an errno read
    without the error queue) says nothing of who sent it: only raw mode can tell a host's
    RST from a firewall's forgery, so ``reply_from`` stays unknown."""
    found = classify_errno(number, udp=udp, arrived=arrived)
    if found is None:
        return Outcome(Seen.FILTERED, f"errno-{errno.errorcode.get(number, number)}")
    state, reason = found
    return Outcome(state, reason, None, rtt)


def icmp_outcome(
    version: int,
    icmp_type: int,
    code: int,
    sender: str | None,
    rtt: float | None,
    *,
    rtt_exact: bool = False,
    ttl: int | None = None,
) -> Outcome | None:
    """The outcome an ICMP error about our probe gives, or None when it is no verdict."""
    found = classify_icmp(version, icmp_type, code)
    if found is None:
        return None
    return Outcome(found[0], found[1], sender, rtt, rtt_exact, ttl)
