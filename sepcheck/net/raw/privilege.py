"""Whether raw mode can run here, and what to tell the user when it cannot."""

from __future__ import annotations

import socket
import sys

PRIVILEGE_MESSAGE = (
    "raw mode needs root or the CAP_NET_RAW capability, which this process lacks; "
    "--mode connect works without it"
)
PRIVILEGE_HINT = (
    "run as root (sudo), give the capability (setcap cap_net_raw+ep on the Python "
    "interpreter, or systemd AmbientCapabilities=CAP_NET_RAW), or in a container add "
    "--cap-add NET_RAW"
)


def raw_problem() -> tuple[str, str] | None:
    """Why raw mode cannot run here (a message and a hint), or None when it can."""
    if sys.platform != "linux":
        return (
            "raw mode needs Linux (raw sockets, kernel timestamps, a socket filter)",
            "--mode connect works on every platform",
        )
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except PermissionError:
        return PRIVILEGE_MESSAGE, PRIVILEGE_HINT
    except OSError as exc:
        return (
            f"raw sockets are not available here: {exc.strerror or exc}",
            "--mode connect works without them",
        )
    probe.close()
    return None
