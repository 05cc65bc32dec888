"""The real backend: non-blocking sockets driven by the event loop's reader/writer hooks.

One socket per TCP try, one per UDP probe (reused across its retries so a late reply
still counts). No stream objects, no coroutine and no future per probe: a try is a socket
and a callback, and the engine owns the timer. That keeps the per-probe cost low enough
for tens of thousands of probes a second (see bench/).

Why a busy event loop cannot turn an open port into "filtered" here: the kernel completes
the TCP handshake (and queues UDP replies and ICMP errors) whether or not the loop is
looking. When a try's deadline passes, ``expire()`` reads the socket's real state once
more (SO_ERROR, getpeername, a non-blocking recv and the error queue) before calling the
try silent, so lateness of the loop only ever delays a verdict, never changes it. RTTs of
open connections come from the kernel (TCP_INFO), free of the loop's lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import select
import socket
import struct
import sys
import time
from collections.abc import Callable

from sepcheck.net import errqueue
from sepcheck.net.classify import classify_errno, classify_icmp
from sepcheck.results import SILENT, LocalResourceError, Outcome, State

# struct linger: two ints on POSIX, two u_shorts on Windows.
_LINGER_RESET = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
_EMFILE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS)
_LINUX = sys.platform.startswith("linux")
_TCP_INFO = getattr(socket, "TCP_INFO", None) if _LINUX else None
_TCPI_RTT = struct.Struct("=I")
_TCPI_RTT_OFFSET = 68  # struct tcp_info: tcpi_rtt, in microseconds (Linux)
_SOL_SOCKET, _SO_ERROR, _SO_LINGER = socket.SOL_SOCKET, socket.SO_ERROR, socket.SO_LINGER

Done = Callable[[Outcome], None]


class _Poller:
    """Readiness for many short-lived sockets at the cost of one epoll_ctl each.

    The event loop's add_writer/add_reader cost far more per socket (uvloop builds a poll
    handle each time), and a probe socket lives for one try. On Linux the backend keeps
    its own epoll set and lets the loop watch only that one descriptor; closing a socket
    drops it from the set, so removal costs nothing. Elsewhere the loop's hooks are used.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.callbacks: dict[int, Callable[[], None]] = {}
        self.epoll = select.epoll() if hasattr(select, "epoll") else None
        if self.epoll is not None:
            loop.add_reader(self.epoll.fileno(), self._dispatch)

    def watch(self, fd: int, write: bool, callback: Callable[[], None]) -> None:
        if self.epoll is None:
            (self.loop.add_writer if write else self.loop.add_reader)(fd, callback)
            return
        self.callbacks[fd] = callback
        self.epoll.register(fd, _EPOLLOUT if write else _EPOLLIN)

    def unwatch(self, fd: int, write: bool, closing: bool = False) -> None:
        """Stop watching ``fd``; ``closing``: the socket is about to be closed, which
        removes it from the epoll set by itself."""
        if self.epoll is None:
            (self.loop.remove_writer if write else self.loop.remove_reader)(fd)
            return
        if self.callbacks.pop(fd, None) is not None and not closing:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(fd)

    def _dispatch(self) -> None:
        assert self.epoll is not None
        callbacks = self.callbacks
        for fd, _ in self.epoll.poll(0, 4096):
            callback = callbacks.get(fd)
            if callback is not None:
                callback()

    def close(self) -> None:
        if self.epoll is not None:
            self.loop.remove_reader(self.epoll.fileno())
            self.epoll.close()
            self.epoll = None
        self.callbacks.clear()


def running_poller(current: _Poller | None) -> _Poller:
    """``current`` if it serves the running loop, else a new poller for it."""
    loop = asyncio.get_running_loop()
    if current is None or current.loop is not loop:
        return _Poller(loop)
    return current


_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_EPOLLIN = getattr(select, "EPOLLIN", 1)


def _kernel_rtt(sock: socket.socket) -> float | None:
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


_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


async def resolve_addresses(name: str, family: int) -> list[str]:
    """The addresses of ``name`` (the resolver's order, without repeats), for any backend."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _new_socket(address: str, kind: socket.SocketKind) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        # SOCK_NONBLOCK (Linux) saves the extra system call of setblocking().
        sock = socket.socket(family, kind | _NONBLOCK)
    except OSError as exc:
        if exc.errno in _EMFILE:
            raise LocalResourceError(exc.errno, exc.strerror) from None
        raise
    if not _NONBLOCK:
        sock.setblocking(False)
    return sock


def _from_queue(sock: socket.socket, rtt: float | None) -> Outcome | None:
    queued = errqueue.read(sock)
    if queued is None or not queued.from_icmp:
        return None
    found = classify_icmp(queued.ip_version, queued.icmp_type, queued.icmp_code)
    if found is None:
        return None
    state, reason = found
    return Outcome(state, reason, queued.offender, rtt)


def _errno_outcome(err: int, rtt: float | None, *, udp: bool) -> Outcome:
    found = classify_errno(err, udp=udp)
    if found is None:
        return Outcome(State.FILTERED, f"errno-{errno.errorcode.get(err, err)}", None, None)
    state, reason = found
    # A RST (or an errno without the error queue) says nothing of who sent it: only raw
    # mode can tell a host's RST from a firewall's forgery, so reply_from stays unknown.
    return Outcome(state, reason, None, rtt)


def send_datagram(sock: socket.socket, payload: bytes) -> Outcome | None:
    """Send one UDP try; the outcome when the local stack refuses it at once (no route, a
    local firewall), None when it left (or the buffer is full: the try stays silent)."""
    try:
        sock.send(payload)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno in _EMFILE:
            raise LocalResourceError(exc.errno, exc.strerror) from None
        return _errno_outcome(exc.errno or 0, None, udp=True)
    return None


class TcpTry:
    """One TCP connect() in flight. Calls ``done`` once if the socket settles before the
    engine calls ``expire()``; after either, the socket is closed."""

    __slots__ = ("address", "done", "fd", "loop", "poller", "sent", "sock")

    def __init__(self, poller: _Poller, address: str, port: int, done: Done) -> None:
        self.poller = poller
        self.loop = loop = poller.loop
        self.address = address
        self.done = done
        sock = self.sock = _new_socket(address, socket.SOCK_STREAM)
        self.fd = -1
        try:
            errqueue.enable(sock)
            self.sent = time.monotonic()
            err = sock.connect_ex((address, port))
        except BaseException:
            sock.close()
            raise
        if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, 10035):
            self.fd = sock.fileno()
            poller.watch(self.fd, True, self._ready)
            return
        # Settled at once: connected (loopback can), or refused by the local stack (no
        # route, a local firewall): nothing came back over the network.
        outcome = self._settle(err, time.monotonic() - self.sent, immediate=True)
        loop.call_soon(done, outcome)

    def _ready(self) -> None:
        self.poller.unwatch(self.fd, True, closing=True)
        self.fd = -1
        err = self.sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
        self.done(self._settle(err, time.monotonic() - self.sent))

    def expire(self) -> Outcome:
        """The deadline passed: read the kernel's verdict once more, then close."""
        if self.fd == -1:
            return SILENT  # already settled and reported
        self.poller.unwatch(self.fd, True, closing=True)
        self.fd = -1
        err = self.sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
        if err:
            return self._settle(err, time.monotonic() - self.sent)
        try:
            self.sock.getpeername()
        except OSError:
            self.sock.close()
            return SILENT  # still connecting: nothing came back in time
        # Connected while the loop was busy: open; the RTT is the kernel's or unknown.
        return self._settle(0, None)

    def abort(self) -> None:
        if self.fd != -1:
            self.poller.unwatch(self.fd, True, closing=True)
            self.fd = -1
        self.sock.close()

    def _settle(self, err: int, rtt: float | None, *, immediate: bool = False) -> Outcome:
        sock = self.sock
        try:
            if not err:
                # Close a connected socket with RST: no TIME_WAIT pile-up on our side over
                # thousands of probes (the other outcomes send nothing on close).
                with contextlib.suppress(OSError):
                    sock.setsockopt(_SOL_SOCKET, _SO_LINGER, _LINGER_RESET)
                kernel = _kernel_rtt(sock)
                if kernel is not None:
                    return Outcome(State.OPEN, "syn-ack", self.address, kernel, rtt_exact=True)
                return Outcome(State.OPEN, "syn-ack", self.address, rtt)
            if err in _EMFILE:
                raise LocalResourceError(err, "local resources exhausted")
            if not immediate:
                queued = _from_queue(sock, rtt)
                if queued is not None:
                    return queued
            return _errno_outcome(err, None if immediate else rtt, udp=False)
        finally:
            sock.close()


class UdpChannel:
    """A connected UDP socket for one probe; each ``send`` is one try. Retries reuse the
    socket, so a late answer to an earlier try still counts."""

    __slots__ = ("address", "done", "fd", "loop", "poller", "sent", "sock")

    def __init__(self, poller: _Poller, address: str, port: int) -> None:
        self.poller = poller
        self.loop = poller.loop
        self.address = address
        sock = self.sock = _new_socket(address, socket.SOCK_DGRAM)
        try:
            errqueue.enable(sock)
            sock.connect((address, port))
        except BaseException:
            sock.close()
            raise
        self.fd = -1
        self.sent = 0.0
        self.done: Done | None = None

    def send(self, payload: bytes, done: Done) -> UdpChannel:
        self.done = done
        self.sent = time.monotonic()
        refused = send_datagram(self.sock, payload)
        if refused is not None:
            self.loop.call_soon(done, refused)
            return self
        if self.fd == -1:
            self.fd = self.sock.fileno()
            self.poller.watch(self.fd, False, self._ready)
        return self

    def _ready(self) -> None:
        outcome = self._check(time.monotonic() - self.sent)
        # A wake-up with nothing to read (e.g. a datagram that failed its checksum) is not
        # an answer: keep waiting until the engine's deadline.
        if not outcome.silent and self.done is not None:
            done, self.done = self.done, None
            self._stop_reading()
            done(outcome)

    def expire(self) -> Outcome:
        self._stop_reading()
        if self.done is None:
            return SILENT
        self.done = None
        return self._check(time.monotonic() - self.sent)

    def _stop_reading(self, closing: bool = False) -> None:
        if self.fd != -1:
            self.poller.unwatch(self.fd, False, closing)
            self.fd = -1

    def _check(self, elapsed: float) -> Outcome:
        queued = _from_queue(self.sock, elapsed)
        if queued is not None:
            with contextlib.suppress(OSError):  # clear the pending socket error too
                self.sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
            return queued
        try:
            self.sock.recv(65535)  # non-blocking socket: no MSG_DONTWAIT (Windows)
        except (BlockingIOError, InterruptedError):
            return SILENT
        except OSError as exc:
            return _errno_outcome(exc.errno or 0, elapsed, udp=True)
        return Outcome(State.OPEN, "udp-response", self.address, elapsed)

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        self._stop_reading(closing=True)
        self.done = None
        self.sock.close()


class SocketBackend:
    """Probes over the host's own TCP/IP stack. Needs no privileges. Use it inside the
    event loop that runs the probes, and ``close()`` it when the run is over."""

    def __init__(self) -> None:
        self._poller: _Poller | None = None

    def _poll(self) -> _Poller:
        self._poller = running_poller(self._poller)
        return self._poller

    def close(self) -> None:
        if self._poller is not None:
            self._poller.close()
            self._poller = None

    async def resolve(self, name: str, family: int) -> list[str]:
        return await resolve_addresses(name, family)

    def start_tcp(self, address: str, port: int, done: Done) -> TcpTry:
        return TcpTry(self._poll(), address, port, done)

    def open_udp(self, address: str, port: int) -> UdpChannel:
        return UdpChannel(self._poll(), address, port)
