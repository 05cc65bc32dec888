"""The real backend: non-blocking sockets driven by the event loop's reader/writer hooks.

One socket per TCP attempt, one per UDP probe (reused across its retries so a late reply
still counts). No stream objects and no executor threads: an attempt costs a socket, a
callback and a timer.

Why a busy event loop cannot turn an open port into "filtered" here: the kernel completes
the TCP handshake (and queues UDP replies and ICMP errors) whether or not the loop is
looking. When an attempt's timer fires, the socket's real state is read once more
(SO_ERROR, getpeername, a non-blocking recv and the error queue) before the attempt is
called silent, so lateness of the loop only ever delays a verdict, never changes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import sys
import time
from dataclasses import dataclass

from sepcheck.net import errqueue
from sepcheck.net.classify import classify_errno, classify_icmp
from sepcheck.results import SILENT, LocalResourceError, Outcome, State

# struct linger: two ints on POSIX, two u_shorts on Windows.
_LINGER_RESET = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
_EMFILE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS)


_TCP_INFO = getattr(socket, "TCP_INFO", None)
_TCPI_RTT = struct.Struct("=I")
_TCPI_RTT_OFFSET = 68  # struct tcp_info: tcpi_rtt, in microseconds (Linux)


def _kernel_rtt(sock: socket.socket) -> float | None:
    """The RTT the kernel measured on this connection, in seconds (Linux only)."""
    if _TCP_INFO is None or not sys.platform.startswith("linux"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return None
    if len(info) < _TCPI_RTT_OFFSET + 4:
        return None
    (micros,) = _TCPI_RTT.unpack_from(info, _TCPI_RTT_OFFSET)
    return micros / 1e6 if micros else None


def _settle(done: asyncio.Future[float | None]) -> None:
    """Timer callback: the wait is over (the caller then reads the socket's real state)."""
    if not done.done():
        done.set_result(None)


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _new_socket(address: str, kind: socket.SocketKind) -> socket.socket:
    try:
        sock = socket.socket(_family(address), kind)
    except OSError as exc:
        if exc.errno in _EMFILE:
            raise LocalResourceError(exc.errno, exc.strerror) from None
        raise
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


@dataclass
class SocketBackend:
    """Probes over the host's own TCP/IP stack. Needs no privileges."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def resolve(self, name: str, family: int) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def tcp_attempt(self, address: str, port: int, timeout: float) -> Outcome:
        loop = asyncio.get_running_loop()
        sock = _new_socket(address, socket.SOCK_STREAM)
        fd = sock.fileno()
        try:
            errqueue.enable(sock)
            # Close with RST: no TIME_WAIT pile-up on our side over thousands of probes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sent = time.monotonic()
            try:
                sock.connect((address, port))
            except BlockingIOError:
                pass
            except OSError as exc:
                return self._tcp_error(sock, exc.errno or 0, sent, immediate=True)
            else:
                return self._tcp_final(sock, address, sent, time.monotonic() - sent)
            done: asyncio.Future[float | None] = loop.create_future()

            def ready() -> None:
                if not done.done():
                    done.set_result(time.monotonic())

            loop.add_writer(fd, ready)
            timer = loop.call_later(timeout, _settle, done)
            try:
                answered_at = await done
            finally:
                timer.cancel()
                loop.remove_writer(fd)
            rtt = (answered_at - sent) if answered_at is not None else None
            return self._tcp_final(sock, address, sent, rtt)
        finally:
            sock.close()

    def _tcp_final(
        self, sock: socket.socket, address: str, sent: float, rtt: float | None
    ) -> Outcome:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self._tcp_error(sock, err, sent, immediate=False, rtt=rtt)
        try:
            sock.getpeername()
        except OSError:
            return SILENT  # still connecting: nothing came back in time
        # Connected. The kernel measured the handshake's RTT; the time the loop took to
        # notice includes its own lag, which must not inflate the timeouts of other probes.
        kernel_rtt = _kernel_rtt(sock)
        if kernel_rtt is not None:
            return Outcome(State.OPEN, "syn-ack", address, kernel_rtt, rtt_exact=True)
        # Without a writer callback in time (a lagging loop), the RTT is unknown rather
        # than the loop's lag; the state is what the kernel says.
        return Outcome(State.OPEN, "syn-ack", address, rtt)

    def _tcp_error(
        self,
        sock: socket.socket,
        err: int,
        sent: float,
        *,
        immediate: bool,
        rtt: float | None = None,
    ) -> Outcome:
        if err in _EMFILE:
            raise LocalResourceError(err, "local resources exhausted")
        if rtt is None and not immediate:
            rtt = time.monotonic() - sent
        queued = _from_queue(sock, rtt)
        if queued is not None:
            return queued
        found = classify_errno(err)
        if found is None:
            return Outcome(State.FILTERED, f"errno-{errno.errorcode.get(err, err)}", None, None)
        state, reason = found
        if immediate:
            # Decided by the local stack (no route, local firewall): nothing came back.
            return Outcome(state, reason, None, None)
        # A RST says nothing of who sent it (the host or a firewall forging it): only raw
        # mode can tell, so connect mode leaves reply_from unknown.
        return Outcome(state, reason, None, rtt)

    def open_udp(self, address: str, port: int) -> UdpSession:
        sock = _new_socket(address, socket.SOCK_DGRAM)
        try:
            errqueue.enable(sock)
            sock.connect((address, port))
        except OSError:
            sock.close()
            raise
        return UdpSession(sock, address)


class UdpSession:
    """A connected UDP socket for one probe: send the payload, wait for a reply or an ICMP
    error; retries reuse the socket so that a late answer to an earlier try still counts."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address

    def close(self) -> None:
        self.sock.close()

    async def attempt(self, payload: bytes, timeout: float) -> Outcome:
        loop = asyncio.get_running_loop()
        sent = time.monotonic()
        try:
            self.sock.send(payload)
        except BlockingIOError:
            return SILENT
        except OSError as exc:
            if exc.errno in _EMFILE:
                raise LocalResourceError(exc.errno, exc.strerror) from None
            return self._error(exc.errno or 0, None)
        fd = self.sock.fileno()
        deadline = sent + timeout
        while True:
            done: asyncio.Future[float | None] = loop.create_future()

            def ready(done: asyncio.Future[float | None] = done) -> None:
                if not done.done():
                    done.set_result(time.monotonic())

            loop.add_reader(fd, ready)
            remaining = max(0.0, deadline - time.monotonic())
            timer = loop.call_later(remaining, _settle, done)
            try:
                answered_at = await done
            finally:
                timer.cancel()
                loop.remove_reader(fd)
            elapsed = (answered_at if answered_at is not None else time.monotonic()) - sent
            outcome = self._final(elapsed)
            # A wake-up with nothing to read (e.g. a datagram that failed its checksum)
            # is not an answer: keep waiting for the rest of the timeout.
            if not outcome.silent or answered_at is None or time.monotonic() >= deadline:
                return outcome

    def _final(self, elapsed: float) -> Outcome:
        queued = _from_queue(self.sock, elapsed)
        if queued is not None:
            self._drain_error()
            return queued
        try:
            data = self.sock.recv(65535)  # non-blocking socket: no MSG_DONTWAIT (Windows)
        except (BlockingIOError, InterruptedError):
            return SILENT
        except OSError as exc:
            return self._error(exc.errno or 0, elapsed)
        del data
        return Outcome(State.OPEN, "udp-response", self.address, elapsed)

    def _drain_error(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def _error(self, err: int, rtt: float | None) -> Outcome:
        found = classify_errno(err, udp=True)
        if found is None:
            return Outcome(State.FILTERED, f"errno-{errno.errorcode.get(err, err)}", None, None)
        state, reason = found
        return Outcome(state, reason, None, rtt)
