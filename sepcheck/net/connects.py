"""How a non-blocking connect() ended, read from the kernel (Linux): shared by the Linux
backend's tries (``linux.py``) and its batch path (``linux_scan.py``), so both judge a
socket alike.

What it reads, each for a reason: SO_ERROR (connected, refused, unreachable), the error
queue (``errqueue.py``: which ICMP error, and who sent it), TCP_INFO (the kernel's RTT,
free of the event loop's lag), and getpeername (connected while nobody looked).
"""

from __future__ import annotations

import socket
import struct
import sys
import time

from sepcheck.net import errqueue
from sepcheck.net.classify import errno_outcome, icmp_outcome
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen
from sepcheck.net.plumbing import RESOURCE_ERRNOS, connected, reset_on_close

if sys.platform != "linux":  # the error queue, TCP_INFO
    raise ImportError("connects.py reads Linux sockets")

_TCP_INFO = getattr(socket, "TCP_INFO", None)
_TCPI_RTT = struct.Struct("=I")
_TCPI_RTT_OFFSET = 68  # struct tcp_info: tcpi_rtt, in microseconds (Linux)
_SOL_SOCKET, _SO_ERROR = socket.SOL_SOCKET, socket.SO_ERROR


def _kernel_rtt(sock: socket.SocketType) -> float | None:
    """The RTT the kernel measured on this connection, in seconds (Linux only)."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return None
    if len(info) < _TCPI_RTT_OFFSET + 4:
        return None
    (micros,) = _TCPI_RTT.unpack_from(info, _TCPI_RTT_OFFSET)
    return micros / 1e6 if micros else None


def from_queue(sock: socket.SocketType, rtt: float | None) -> Outcome | None:
    queued = errqueue.read(sock)
    if queued is None or not queued.from_icmp:
        return None
    return icmp_outcome(queued.ip_version, queued.icmp_type, queued.icmp_code, queued.offender, rtt)


def settle_tcp(
    sock: socket.SocketType, address: str, err: int, rtt: float | None, *, immediate: bool = False
) -> Outcome:
    """The outcome of a connect() that ended with ``err`` (0: connected), ``rtt`` seconds
    after it began as the loop saw it; closes ``sock``. ``immediate``: connect() itself
    returned it (nothing came over the network). SILENT: a local shortage, no answer."""
    try:
        if not err:
            reset_on_close(sock)
            kernel = _kernel_rtt(sock)
            if kernel is not None:
                return Outcome(Seen.OPEN, "syn-ack", address, kernel, rtt_exact=True)
            return Outcome(Seen.OPEN, "syn-ack", address, rtt)
        if err in RESOURCE_ERRNOS:
            if immediate:
                raise LocalResourceError(err, "local resources exhausted")
            return SILENT
        if not immediate:
            queued = from_queue(sock, rtt)
            if queued is not None:
                return queued
        return errno_outcome(err, None if immediate else rtt, udp=False, arrived=not immediate)
    finally:
        sock.close()


def expire_tcp(sock: socket.SocketType, address: str, sent: float) -> Outcome:
    """A connect() whose deadline passed: read the kernel's verdict once more (it may have
    settled while the loop was busy), then close ``sock``."""
    try:
        err = sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
    except BaseException:
        sock.close()
        raise
    if err:
        return settle_tcp(sock, address, err, time.monotonic() - sent)
    if not connected(sock):
        sock.close()
        return SILENT  # still connecting: nothing came back in time
    # Connected while the loop was busy: open; the RTT is the kernel's or unknown.
    return settle_tcp(sock, address, 0, None)
