"""Which network backend a run uses, chosen once per run (the report names it).

- ``linux``: the default on Linux (net/linux.py): its own epoll set, the kernel's error
  queue (who sent an ICMP error), TCP_INFO RTTs; runs of 2,000 probes or more are spread
  over forked worker processes (run.py).
- ``portable``: the default elsewhere (net/portable.py): selectors and plain socket errors
  only, one process. ``SEPCHECK_BACKEND=portable`` forces it on Linux, for tests and
  support (the same states; reasons may say less).
- ``raw``: ``--mode raw`` (net/raw/): raw sockets, root or CAP_NET_RAW, Linux.

Backends are imported only when chosen: a run loads one of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sepcheck.errors import UsageError
from sepcheck.net.protocols import Backend

ENV = "SEPCHECK_BACKEND"
NAMES = ("linux", "portable")
"""What SEPCHECK_BACKEND accepts (raw is chosen with --mode)."""


@dataclass(frozen=True)
class BackendChoice:
    name: str
    factory: Callable[[], Backend]
    workers: bool
    """May the run fork worker processes (Linux only, and only with the Linux-only paths:
    the portable backend runs as it would on Windows or macOS, in one process)."""


def _linux() -> Backend:
    from sepcheck.net.linux import LinuxBackend

    return LinuxBackend()


def _portable() -> Backend:
    from sepcheck.net.portable import PortableBackend

    return PortableBackend()


def _raw() -> Backend:
    from sepcheck.net.raw.backend import RawBackend

    return RawBackend()


def choose(raw: bool, environ: dict[str, str] | None = None) -> BackendChoice:
    """The backend for a run: raw when asked, else SEPCHECK_BACKEND, else by platform.
    The variable is checked on every run: a bad value, or one that raw mode would
    silently override, is an error (exit 2), never ignored."""
    wanted = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    if wanted and wanted not in NAMES:
        raise UsageError(
            f"{ENV}={wanted!r}: unknown backend",
            hint=f"use one of: {', '.join(NAMES)} (or leave it unset)",
        )
    if raw:
        if wanted:
            raise UsageError(
                f"{ENV}={wanted} names a connect-mode backend, and this run is in raw mode "
                "(--mode raw, or --mode auto with the privilege)",
                hint=f"unset {ENV} for raw mode, or give --mode connect to use the {wanted} "
                "backend",
            )
        return BackendChoice("raw", _raw, workers=True)
    if not wanted:
        wanted = "linux" if sys.platform.startswith("linux") else "portable"
    if wanted == "linux":
        if not sys.platform.startswith("linux"):
            raise UsageError(
                f"{ENV}=linux: the linux backend needs Linux",
                hint="leave SEPCHECK_BACKEND unset: the portable backend is the default here",
            )
        return BackendChoice("linux", _linux, workers=True)
    return BackendChoice("portable", _portable, workers=False)
