"""The portable backend (the default off Linux): what Windows, macOS and Linux all have.

Non-blocking sockets watched through the event loop's own hooks (``add_writer`` for a TCP
connect, ``add_reader`` for a UDP reply; on Windows run.py uses the selector loop, which
has them), ``connect_ex`` with SO_ERROR and getpeername, and a non-blocking ``recv`` whose
errno tells a UDP port unreachable. No epoll set of its own, no error queue (``reply_from``
stays unknown for ICMP errors: reasons come from the errno alone), no TCP_INFO (RTTs are
measured by the loop, ``rtt_exact`` False), no worker processes. ``linux.py`` does the
same job with Linux-only features; ``SEPCHECK_BACKEND=portable`` runs this one on Linux.

A late loop never turns an answer into silence: the kernel completes the handshake and
queues replies and errors whether or not the loop looks, and ``expire()`` reads the
socket's state once more (SO_ERROR, getpeername, a non-blocking recv) before it calls a
try silent. What it finds late carries no RTT (the loop's lag is not the network's).

Platform traps, and what the user sees:

- Windows answers a RST to its SYN by sending the SYN again, so a refused connect is
  reported only after about 1 s, 2 s as measured on current releases (nmap issue #2113
  traces it to the SYN retries the SIO_TCP_INITIAL_RTO ioctl sets). The engine
  waits at most ``--timeout`` (1.5 s) for a try, 1 s before any answer is known and as
  little as 0.1 s once fast answers set the RTT, and ``expire()`` then finds the connect
  still under way (SO_ERROR 0, no peer): the try is silent. So on Windows a closed port
  is usually reported ``filtered (no-response after N tries)`` instead of ``refused
  (conn-refused)``: a must-not-reach flow still passes and a required flow still fails
  (with a reason that blames a firewall instead of a service that is not listening), but
  in ``--stage pre-install`` a closed port fails where Linux and macOS warn. Not fixed
  here: it needs SIO_TCP_INITIAL_RTO (no SYN retransmissions) through WSAIoctl, which
  Python's socket.ioctl does not offer, and nothing here can run it on Windows.
- Windows reports an ICMP port unreachable on a connected UDP socket as WSAECONNRESET
  (10054) from recv; classify.py reads it as port-unreach (elsewhere: ECONNREFUSED).
- Windows and macOS have no SOCK_NONBLOCK: plumbing.new_socket calls setblocking(False).
- connect_ex of a non-blocking socket returns EINPROGRESS on POSIX and WSAEWOULDBLOCK
  (10035) on Windows: plumbing.IN_PROGRESS holds both.
- Windows' select() reports a failed connect in its "exceptional" set, not as writable;
  CPython's selectors.SelectSelector passes the writers as that set too and merges the
  result, so ``add_writer`` sees failures (selectors.py, ``_select`` for win32).
- Windows' select() takes at most 512 sockets per set (CPython's FD_SETSIZE there;
  beyond it select raises ValueError "too many file descriptors in select()", which would
  end the run: tornado issue #2864). This backend holds at most SELECT_LIMIT sockets on
  Windows and raises LocalResourceError beyond, so the engine waits and narrows its window.
- macOS fails a connect or a send with EHOSTDOWN when the local link does not answer ARP
  for the address; classify.py reads it as host-unreach.
- ICMP errors about a TCP connect, on Linux: an ICMPv4 error fails the connect at once
  (admin-prohibited and host-unreachable both give EHOSTUNREACH: host-unreach; a router's
  port unreachable gives ECONNREFUSED: conn-refused); an ICMPv6 error is only kept as the
  socket's soft error, with no wake-up, which SO_ERROR returns: ``expire()`` finds it at
  the deadline (ICMPv6 admin-prohibited gives EACCES, which classify.py reads as
  admin-prohibited when it arrives after the SYN left). macOS and Windows keep resending
  the SYN after such errors:
  ``filtered (no-response)`` there. Same state, a reason that says less.
- ICMP errors about UDP: without IP_RECVERR, Linux reports only the "hard" ones on a
  connected UDP socket (port unreachable, administratively prohibited); a host or network
  unreachable is dropped (net/ipv4/udp.c, ``__udp4_lib_err``: ``if (!harderr ...) goto
  out``), so such a probe ends ``open|filtered (no-response)`` where the Linux backend
  says ``filtered (host-unreach by <router>)``. Windows reports only port unreachable;
  BSD stacks, macOS's among them, pass every unreachable on to a connected socket
  (``udp_ctlinput`` sets its error through ``udp_notify``).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
import time

from sepcheck.net.classify import errno_outcome
from sepcheck.net.outcome import SILENT, LocalResourceError, Outcome, Seen
from sepcheck.net.plumbing import (
    IN_PROGRESS,
    RESOURCE_ERRNOS,
    FailedChannel,
    SettledTry,
    connected,
    failed_start,
    new_socket,
    read_datagram,
    reset_on_close,
    resolve_addresses,
    send_datagram,
    set_ttl,
)
from sepcheck.net.protocols import Channel, Done, Try

SELECT_LIMIT = 500 if sys.platform == "win32" else None
"""Most sockets held at once: under select()'s 512 per set on Windows (the loop's own
self-pipe is one more, and room is kept for others); no ceiling elsewhere but the
open-file limit."""
_SOL_SOCKET, _SO_ERROR = socket.SOL_SOCKET, socket.SO_ERROR


class TcpTry:
    """One TCP connect() under way, watched with the loop's ``add_writer``. Calls ``done``
    once if the socket settles before ``expire()`` or ``abort()``; after any of the three,
    the socket is closed."""

    __slots__ = ("address", "done", "fd", "loop", "owner", "sent", "sock")

    def __init__(
        self, owner: PortableBackend, sock: socket.socket, address: str, sent: float, done: Done
    ) -> None:
        self.owner = owner
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.address = address
        self.sent = sent
        self.done = done
        self.fd = sock.fileno()
        self.loop.add_writer(self.fd, self._ready)

    def _ready(self) -> None:
        # Writable (or, on Windows, "exceptional"): connected or failed; anything else is a
        # spurious wake-up, and the try keeps waiting for its deadline.
        outcome = self._read(time.monotonic() - self.sent)
        if outcome is None:
            return
        done = self.done
        self._close()
        if not outcome.silent:
            done(outcome)
        # A silent outcome here is a local shortage (RESOURCE_ERRNOS): no answer, so no
        # ``done``; the closed try stays silent until ``expire()``, and the engine retries.

    def expire(self) -> Outcome:
        """The deadline passed: read the connect's state once more, then close."""
        if self.fd == -1:
            return SILENT  # settled and reported already (or a local shortage)
        outcome = self._read(None)
        self._close()
        return SILENT if outcome is None else outcome

    def abort(self) -> None:
        if self.fd != -1:
            self._close()

    def _read(self, rtt: float | None) -> Outcome | None:
        """What the socket says now: an outcome, or None while the connect is under way."""
        err = self.sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
        if err in RESOURCE_ERRNOS:
            return SILENT
        if err:
            return errno_outcome(err, rtt, udp=False, arrived=True)
        if not connected(self.sock):
            return None
        reset_on_close(self.sock)
        return Outcome(Seen.OPEN, "syn-ack", self.address, rtt)

    def _close(self) -> None:
        self.loop.remove_writer(self.fd)  # before close(): the selector must not keep it
        self.fd = -1
        self.sock.close()
        self.owner.release()


class UdpTry:
    """One datagram of a UDP probe; its answer is read by the channel."""

    __slots__ = ("channel", "done", "sent")

    def __init__(self, channel: UdpChannel, done: Done, sent: float) -> None:
        self.channel = channel
        self.done = done
        self.sent = sent

    def expire(self) -> Outcome:
        return self.channel.expire(self)

    def abort(self) -> None:
        self.channel.drop(self)


class UdpChannel:
    """A connected UDP socket for one probe, read with the loop's ``add_reader`` while a
    try waits. Retries reuse the socket, so a late answer to an earlier try still counts
    (it waits in the socket until the next try reads)."""

    __slots__ = ("address", "current", "fd", "loop", "owner", "sock")

    def __init__(self, owner: PortableBackend, sock: socket.socket, address: str) -> None:
        self.owner = owner
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.address = address
        self.fd = -1
        """The socket's descriptor while the loop watches it, else -1."""
        self.current: UdpTry | None = None
        """The try waiting for an answer."""

    def send(self, payload: bytes, done: Done) -> Try:
        sent = time.monotonic()
        refused = send_datagram(self.sock, payload)
        if refused is not None:
            # This host refused to send it (no route, a local firewall): known at once,
            # passed on the loop's next turn.
            return SettledTry(refused, done)
        attempt = self.current = UdpTry(self, done, sent)
        if self.fd == -1:
            self.fd = self.sock.fileno()
            self.loop.add_reader(self.fd, self._ready)
        return attempt

    def _ready(self) -> None:
        attempt = self.current
        if attempt is None:
            self._stop_reading()  # nobody waits: leave what came in the socket
            return
        outcome = read_datagram(self.sock, self.address, time.monotonic() - attempt.sent)
        if outcome.silent:
            return  # a wake-up with nothing to read (a datagram that failed its checksum)
        self.current = None
        self._stop_reading()
        attempt.done(outcome)

    def expire(self, attempt: UdpTry) -> Outcome:
        if self.current is not attempt:
            return SILENT  # answered and reported already, or dropped
        self.current = None
        self._stop_reading()
        return read_datagram(self.sock, self.address, None)

    def drop(self, attempt: UdpTry) -> None:
        if self.current is attempt:
            self.current = None
            self._stop_reading()

    def _stop_reading(self) -> None:
        if self.fd != -1:
            self.loop.remove_reader(self.fd)
            self.fd = -1

    def close(self) -> None:
        if self.sock.fileno() == -1:
            return
        self.current = None
        self._stop_reading()
        self.sock.close()
        self.owner.release()


class PortableBackend:
    """Probes over the host's own TCP/IP stack with selectors and plain socket errors.
    Needs no privileges. Use it inside the event loop that runs the probes, and
    ``close()`` it when the run is over."""

    name = "portable"

    def __init__(self, limit: int | None = SELECT_LIMIT) -> None:
        self.limit = limit
        """Most sockets held at once (None: no ceiling of the backend's own)."""
        self.held = 0
        """Sockets open now (tries under way, channels not yet closed)."""

    async def resolve(self, name: str, family: int) -> list[str]:
        return await resolve_addresses(name, family)

    def start_tcp(self, address: str, port: int, done: Done, ttl: int | None = None) -> Try:
        sock = self._open(address, socket.SOCK_STREAM)
        try:
            set_ttl(sock, ttl)
            sent = time.monotonic()
            err = sock.connect_ex((address, port))
            if err in IN_PROGRESS:
                return TcpTry(self, sock, address, sent, done)
        except OSError as exc:
            self._discard(sock)
            return SettledTry(failed_start(exc, udp=False), done)
        except BaseException:
            self._discard(sock)
            raise
        # Settled at once: connected (loopback can), or refused by this host's own stack
        # (no route, a local firewall): nothing came back over the network.
        if err in RESOURCE_ERRNOS:
            self._discard(sock)
            raise LocalResourceError(err, "local resources exhausted")
        if err:
            outcome = errno_outcome(err, None, udp=False)
        else:
            reset_on_close(sock)
            outcome = Outcome(Seen.OPEN, "syn-ack", address, time.monotonic() - sent)
        self._discard(sock)
        return SettledTry(outcome, done)

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> Channel:
        sock = self._open(address, socket.SOCK_DGRAM)
        try:
            set_ttl(sock, ttl)
            sock.connect((address, port))
        except OSError as exc:
            self._discard(sock)
            return FailedChannel(failed_start(exc, udp=True))
        except BaseException:
            self._discard(sock)
            raise
        return UdpChannel(self, sock, address)

    def close(self) -> None:
        """Nothing to release: every socket belongs to a try or a channel, which its
        caller ends (no poller, no thread)."""

    def _open(self, address: str, kind: socket.SocketKind) -> socket.socket:
        """A probe socket, counted against the limit; LocalResourceError when none can be
        had (the limit, or this host out of descriptors)."""
        if self.limit is not None and self.held >= self.limit:
            raise LocalResourceError(errno.EMFILE, "select() cannot watch more sockets")
        sock = new_socket(address, kind)
        self.held += 1
        return sock

    def _discard(self, sock: socket.socket) -> None:
        sock.close()
        self.release()

    def release(self) -> None:
        """A socket of this backend was closed."""
        self.held -= 1
