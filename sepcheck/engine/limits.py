"""How many sockets this process may hold: the ceiling of the concurrency window."""

from __future__ import annotations

import sys

FD_RESERVE = 64
"""Descriptors kept free for the rest of the process (resolver, report files, stdio)."""


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit toward ``wanted`` (within the hard limit) and return
    how many probes may be in flight under it."""
    if sys.platform == "win32":
        return wanted
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < target:
        new = target if hard == resource.RLIM_INFINITY else min(target, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))
