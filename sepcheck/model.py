"""Shared vocabulary: the enums whose string values are public words in files and reports."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a host is in a SEP site. The names are a public contract (catalogue, topology)."""

    MANAGER = "manager"
    DATABASE = "database"
    CLIENT = "client"
    GUP = "gup"
    REMOTE_CONSOLE = "remote_console"
    REPORTING_CONSOLE = "reporting_console"
    REPLICATION_PARTNER = "replication_partner"
    SPC = "spc"
    RMM_EDR = "rmm_edr"
    SYSLOG = "syslog"
    CONTENT_ANALYSIS = "content_analysis"
    CLOUD_CONSOLE = "cloud_console"
    # Beyond Broadcom's table (catalogue/README.md, "Not in the table"): optional services
    # a manager (and sometimes clients) reach, each off unless the topology names hosts.
    LIVEUPDATE = "liveupdate"
    PROXY = "proxy"
    DIRECTORY = "directory"
    MAIL = "mail"


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class Expect(StrEnum):
    """What must be true of a flow: it works, or it must not exist."""

    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"


class Scope(StrEnum):
    """Where the flow runs: between hosts, or on one host over loopback."""

    NETWORK = "network"
    LOCAL = "local"


class Severity(StrEnum):
    """How a violated expectation counts: a failure, or a warning worth reading."""

    FAIL = "fail"
    WARN = "warn"


class HostOS(StrEnum):
    """The operating system a topology's host group runs: push deployment depends on it."""

    WINDOWS = "windows"
    MAC = "mac"
    LINUX = "linux"


ROLE_NAMES = ", ".join(r.value for r in Role)
