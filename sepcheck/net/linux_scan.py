"""Connect mode's batch path for TCP (Linux): the engine's tickets, one connect() each,
answers read back in batches (``net.protocols.SynScanner``; connect() sends the SYN).

Why a second way to do what ``TcpTry`` does: in a run of thousands of probes, the cost
is the interpreter's work per probe, not the kernel's (``bench/``). Here a probe in flight
is a socket and a tuple in two dicts: no try object, no ``done`` callback, no readiness
callback per socket, no Python socket wrapper (the C socket type). The sockets sit in the
scanner's own epoll set; the loop watches that one descriptor and only wakes the engine,
which reads every ready socket in one call to ``answers()``. Each socket is judged by the
same code as a ``TcpTry`` (``settle_tcp``, ``expire_tcp``), so outcomes are the same.

Why a busy loop cannot turn an answer into silence here either: ``answers()`` polls the
epoll set itself (it does not wait for the loop to notice), and ``expire()`` reads a
socket's state once more before calling it silent.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
import sys
import time
from collections.abc import Callable

from sepcheck.net import errqueue
from sepcheck.net.connects import expire_tcp, settle_tcp
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome
from sepcheck.net.plumbing import IN_PROGRESS, RESOURCE_ERRNOS, failed_start, set_ttl

if sys.platform != "linux":  # epoll, the error queue
    raise ImportError("the connect scanner needs Linux")

_SOCKET = socket.SocketType
_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_INET, _INET6 = socket.AF_INET, socket.AF_INET6
_SOL_SOCKET, _SO_ERROR = socket.SOL_SOCKET, socket.SO_ERROR
_BATCH = 4096
"""Most ready sockets taken from the epoll set per call (more are read in a loop)."""

_Pending = tuple[int, socket.SocketType, str, float, int]
"""A connect() in flight: (ticket, socket, address, when it began, descriptor)."""


class ConnectScanner:
    """The Linux backend's ``syn_scanner``. The running loop watches its epoll set while
    the engine has ``on_answer`` set. ``close()`` closes every socket and the set; a
    later probe opens a new one (the backend may be used again)."""

    def __init__(self) -> None:
        # Not annotated as select.epoll: mypy --platform win32 resolves annotations even
        # past this module's ImportError, and Windows' select has no epoll.
        self.epoll = select.epoll()
        self.by_fd: dict[int, _Pending] = {}
        self.live: dict[int, _Pending] = {}
        """Tickets in flight (their sockets not yet settled)."""
        self.ready: dict[int, Outcome] = {}
        """Answers not yet taken by the engine, by ticket."""
        self._on_answer: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _reopen(self) -> None:
        """A new epoll set after close(), watched by the loop if a run is on."""
        self.epoll = select.epoll()
        if self._on_answer is not None:
            self._bind()

    @property
    def on_answer(self) -> Callable[[], None] | None:
        return self._on_answer

    @on_answer.setter
    def on_answer(self, callback: Callable[[], None] | None) -> None:
        self._on_answer = callback
        self._unbind()
        if callback is not None:
            self._bind()

    def _bind(self) -> None:
        """Let the running loop watch the epoll set (each run binds to its own loop)."""
        if self.epoll.closed:
            self.epoll = select.epoll()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.epoll.fileno(), self._readable)

    def _unbind(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed() and not self.epoll.closed:
            loop.remove_reader(self.epoll.fileno())

    def _readable(self) -> None:
        # Only a wake-up: the engine reads the sockets in answers(), in its own tick.
        if self._on_answer is not None:
            self._on_answer()

    def _answer(self, ticket: int, outcome: Outcome) -> None:
        self.ready[ticket] = outcome
        if self._on_answer is not None:
            self._on_answer()

    def send_syn(self, ticket: int, address: str, port: int, ttl: int | None) -> None:
        v6 = ":" in address
        try:
            sock = _SOCKET(_INET6 if v6 else _INET, _STREAM)
        except OSError as exc:
            if exc.errno in RESOURCE_ERRNOS:
                raise LocalResourceError(exc.errno or errno.EMFILE, exc.strerror) from None
            self._answer(ticket, failed_start(exc, udp=False))
            return
        try:
            errqueue.enable(sock, v6)
            if ttl is not None:
                set_ttl(sock, ttl)
            sent = time.monotonic()
            err = sock.connect_ex((address, port))
        except OSError as exc:
            sock.close()
            # A malformed address, a family this host lacks: what this host said.
            self._answer(ticket, failed_start(exc, udp=False))
            return
        except BaseException:
            sock.close()
            raise
        if err in IN_PROGRESS:
            fd = sock.fileno()
            if self.epoll.closed:
                self._reopen()
            try:
                self.epoll.register(fd, select.EPOLLOUT)
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.ENOSPC, errno.ENOMEM):  # epoll's own limits
                    raise LocalResourceError(exc.errno, exc.strerror) from None
                raise
            self.by_fd[fd] = self.live[ticket] = (ticket, sock, address, sent, fd)
            return
        # Settled at once: connected (loopback can), or refused by this host's own stack
        # (no route, a local firewall). Out of resources raises (the engine waits).
        self._answer(
            ticket, settle_tcp(sock, address, err, time.monotonic() - sent, immediate=True)
        )

    def answers(self) -> list[tuple[int, Outcome]]:
        self._read()
        if not self.ready:
            return []
        ready = list(self.ready.items())
        self.ready.clear()
        return ready

    def _read(self) -> None:
        """Judge every socket the kernel says has settled (connected or failed)."""
        if self.epoll.closed:
            return
        by_fd, live, ready = self.by_fd, self.live, self.ready
        while True:
            events = self.epoll.poll(0, _BATCH)
            now = time.monotonic()
            for fd, _ in events:
                pending = by_fd.pop(fd, None)
                if pending is None:
                    continue
                ticket, sock, address, sent, _ = pending
                del live[ticket]
                outcome = settle_tcp(
                    sock, address, sock.getsockopt(_SOL_SOCKET, _SO_ERROR), now - sent
                )
                # Silence here is a local shortage (RESOURCE_ERRNOS): no answer; the
                # ticket is silent at its deadline and the engine tries again.
                if not outcome.silent:
                    ready[ticket] = outcome
            if len(events) < _BATCH:
                return

    def expire(self, ticket: int) -> Outcome:
        found = self.ready.pop(ticket, None)
        if found is not None:
            return found
        pending = self.live.pop(ticket, None)
        if pending is None:
            return SILENT
        _, sock, address, sent, fd = pending
        del self.by_fd[fd]
        return expire_tcp(sock, address, sent)

    def abort(self, ticket: int) -> None:
        self.ready.pop(ticket, None)
        pending = self.live.pop(ticket, None)
        if pending is not None:
            del self.by_fd[pending[4]]
            pending[1].close()

    def close(self) -> None:
        for pending in self.live.values():
            pending[1].close()
        self.live.clear()
        self.by_fd.clear()
        self.ready.clear()
        self._unbind()
        self.epoll.close()
