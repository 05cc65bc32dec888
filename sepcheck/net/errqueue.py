"""Linux socket error queues: who sent the ICMP error about our probe, and which one.

With ``IP_RECVERR`` (``IPV6_RECVERR``) set, the kernel queues each ICMP error for the
socket; ``recvmsg(MSG_ERRQUEUE)`` returns a ``struct sock_extended_err`` followed by the
sockaddr of the offender (the device that sent the ICMP). That works without privileges,
so connect mode can say "admin-prohibited by 198.18.1.1" (tests/lab checks it against
a real router). Python does not
export these constants, so they are written here. Other systems have no error queue:
``read()`` finds nothing and callers fall back to errno alone.
"""

from __future__ import annotations

import socket
import struct
import sys
from dataclasses import dataclass

IP_RECVERR = 11
IPV6_RECVERR = 25
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
_EE = struct.Struct("=IBBBBII")


@dataclass(frozen=True)
class QueuedError:
    errno: int
    origin: int
    icmp_type: int
    icmp_code: int
    offender: str | None

    @property
    def from_icmp(self) -> bool:
        return self.origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6)

    @property
    def ip_version(self) -> int:
        return 6 if self.origin == SO_EE_ORIGIN_ICMP6 else 4


def enable(sock: socket.SocketType, v6: bool | None = None) -> None:
    """Ask the kernel to queue ICMP errors for ``sock`` (Linux only; no-op elsewhere).
    ``v6``: the socket's family when the caller knows it (``sock.family`` builds an enum
    member on every read, a cost paid once per probe)."""
    if not sys.platform.startswith("linux"):
        return
    if (sock.family == socket.AF_INET6) if v6 is None else v6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def _offender(raw: bytes) -> str | None:
    if len(raw) < 2:
        return None
    family = int.from_bytes(raw[:2], sys.byteorder)
    if family == socket.AF_INET and len(raw) >= 8:
        address = socket.inet_ntop(socket.AF_INET, raw[4:8])
        return None if address == "0.0.0.0" else address
    if family == socket.AF_INET6 and len(raw) >= 24:
        address = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        return None if address == "::" else address
    return None


def parse(data: bytes) -> QueuedError | None:
    """Decode the ancillary data of one error-queue message."""
    if len(data) < _EE.size:
        return None
    number, origin, icmp_type, code, _pad, _info, _data = _EE.unpack_from(data)
    return QueuedError(number, origin, icmp_type, code, _offender(data[_EE.size :]))


def read(sock: socket.SocketType) -> QueuedError | None:
    """Pop one queued error from ``sock``, or None when the queue is empty."""
    if not sys.platform.startswith("linux"):  # spelt out: mypy --platform reads it
        return None
    try:
        _, ancdata, _, _ = sock.recvmsg(512, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return None
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
            return parse(data)
    return None
