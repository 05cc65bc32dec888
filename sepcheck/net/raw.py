"""The raw backend (``--mode raw``): half-open SYN probes and ICMP read first-hand.

Needs root or CAP_NET_RAW. Per address family it holds four descriptors for the whole run:

- a raw TCP socket that sends every SYN (a template built once with scapy, patched per
  probe, see packets.py) and receives a copy of every TCP segment arriving on the host;
- a raw ICMP (ICMPv6) socket that receives every ICMP message and sends echo requests;
- a TCP socket bound to a free port and never connected: it reserves the source port of
  the SYNs, so no real connection of this host can collide with a probe;
- for UDP, each probe still has its own connected socket (the reply comes back to it,
  with its TTL from IP_RECVTTL / IPV6_RECVHOPLIMIT); its ICMP errors are read on the raw
  ICMP socket, which sees the ICMP's sender and TTL.

Replies are dispatched to waiting probes by dictionary lookup: TCP by (sender, port,
sequence number acknowledged), ICMP errors by what the quoted packet says (destination,
port, and the TCP sequence number or the UDP source port). No sniffer thread, no task per
probe: the event loop reads the two raw sockets when they are readable.

The half-open handshake: this host's kernel does not know the SYN it did not send from a
socket, so it answers the SYN-ACK with its own RST. That closes the half-open connection
on the target as nmap's SYN scan does; sepcheck does not send a second RST.

Who sent a "closed" answer (ttl.py): a RST or port unreachable is judged against the TTL
of the host's own answers. When no reference is known yet, the probe holds its answer,
asks the host for one (an ICMP echo request, once per host) and settles as soon as any
answer of the host arrives, or at its deadline with "cannot tell".

RTTs come from the kernel's receive timestamps (SO_TIMESTAMPNS), free of the loop's lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import socket
import struct
import sys
import time
from collections.abc import Callable

from sepcheck.net import packets
from sepcheck.net.classify import classify_errno, classify_icmp
from sepcheck.net.sockets import (
    _EMFILE,
    _new_socket,
    _Poller,
    resolve_addresses,
    running_poller,
    send_datagram,
)
from sepcheck.net.ttl import judge_ttl
from sepcheck.results import SILENT, LocalResourceError, Outcome, State

Done = Callable[[Outcome], None]

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_ANCILLARY = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(4) + 64
_TIMESPEC = struct.Struct("=qq")
_INT = struct.Struct("=i")
_RECEIVE_BUFFER = 8 << 20
_BATCH = 1024
"""Most packets read from a raw socket per wake-up, so one busy socket cannot starve the
loop's timers."""
_RETRYABLE_SEND = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS)

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
    try:
        packets.syn_template()
    except ImportError:
        # scapy is a dependency of sepcheck: missing, the installation is broken.
        return (
            "raw mode needs scapy, which is missing from this installation",
            "reinstall sepcheck (pip install --force-reinstall sepcheck), or use --mode connect",
        )
    return None


class _Ancillary:
    """What recvmsg's ancillary data says: kernel receive time and TTL/hop limit."""

    __slots__ = ("stamp", "ttl")

    def __init__(self, ancdata: list[tuple[int, int, bytes]]) -> None:
        self.stamp: float | None = None
        self.ttl: int | None = None
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanos = _TIMESPEC.unpack_from(data)
                self.stamp = seconds + nanos / 1e9
            elif len(data) >= 4 and (
                (level == socket.IPPROTO_IP and kind == socket.IP_TTL)
                or (level == socket.IPPROTO_IPV6 and kind == _IPV6_HOPLIMIT)
            ):
                self.ttl = _INT.unpack_from(data)[0]


class _Pending:
    """What a TCP try and a UDP try share: who to tell, when sent, a held answer."""

    __slots__ = ("address", "backend", "done", "held", "packed", "sent_mono", "sent_wall")

    def __init__(self, backend: RawBackend, address: str, packed: bytes) -> None:
        self.backend = backend
        self.address = address
        self.packed = packed
        self.done: Done | None = None
        self.held: Outcome | None = None
        """A 'closed' answer waiting for the host's reference TTL."""
        self.sent_wall = 0.0
        self.sent_mono = 0.0

    def _mark_sent(self) -> None:
        self.sent_wall = time.time()
        self.sent_mono = time.monotonic()

    def rtt(self, stamp: float | None) -> tuple[float, bool]:
        """Seconds from send to the kernel's receive time when known (exact), else to now."""
        if stamp is not None:
            elapsed = stamp - self.sent_wall
            if elapsed >= 0:
                return elapsed, True
        return time.monotonic() - self.sent_mono, False

    def settle(self, outcome: Outcome) -> None:
        done, self.done = self.done, None
        self.held = None
        self._forget()
        if done is not None:
            done(outcome)

    def _forget(self) -> None:
        """Stop matching replies to this try."""

    def _take_held(self) -> Outcome:
        held = self.held
        self.held = None
        if held is None:
            return SILENT
        return self.backend.judged(held, self.address, None)


class RawTcpTry(_Pending):
    """One SYN in flight; settles on a SYN-ACK, a RST or an ICMP error about it."""

    __slots__ = ("key",)

    def __init__(
        self,
        backend: RawBackend,
        side: _Side,
        address: str,
        packed: bytes,
        port: int,
        done: Done,
        ttl: int | None,
    ) -> None:
        super().__init__(backend, address, packed)
        self.done = done
        seq = random.getrandbits(32)
        self.key = (packed, port, seq)
        source = side.source_for(address, packed)
        segment = packets.syn_segment(source, packed, side.sport, port, seq)
        side.set_ttl(side.tcp, ttl)
        backend.tcp_tries[self.key] = self
        self._mark_sent()
        try:
            side.tcp.sendto(segment, (address, 0))
        except OSError as exc:
            del backend.tcp_tries[self.key]
            if exc.errno in _RETRYABLE_SEND or exc.errno in _EMFILE:
                raise LocalResourceError(exc.errno, exc.strerror) from None
            raise

    def _forget(self) -> None:
        self.backend.tcp_tries.pop(self.key, None)

    def expire(self) -> Outcome:
        if self.done is None:
            return SILENT
        self.done = None
        self._forget()
        return self._take_held()

    def abort(self) -> None:
        self.done = None
        self.held = None
        self._forget()


class RawUdpChannel(_Pending):
    """A connected UDP socket for one probe (reused by its retries); the reply and its TTL
    arrive on it, its ICMP errors on the backend's raw ICMP socket."""

    __slots__ = ("fd", "key", "poller", "side", "sock")

    def __init__(
        self,
        backend: RawBackend,
        side: _Side,
        address: str,
        packed: bytes,
        port: int,
        ttl: int | None,
    ) -> None:
        super().__init__(backend, address, packed)
        self.side = side
        self.poller = backend.poller()
        sock = self.sock = _new_socket(address, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            if len(packed) == 4:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
            side.set_ttl(sock, ttl, force=False)
            sock.connect((address, port))
            sport = sock.getsockname()[1]
        except BaseException:
            sock.close()
            raise
        self.key = (packed, port, sport)
        backend.udp_channels[self.key] = self
        self.fd = sock.fileno()
        self.poller.watch(self.fd, False, self._ready)

    def send(self, payload: bytes, done: Done) -> RawUdpChannel:
        self.done = done
        self.held = None
        self._mark_sent()
        refused = send_datagram(self.sock, payload)
        if refused is not None:
            self.done = None
            asyncio.get_running_loop().call_soon(done, refused)
        return self

    def _ready(self) -> None:
        try:
            data, ancdata, _, _ = self.sock.recvmsg(65535, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # An ICMP error arrived: its evidence (sender, TTL) is on the raw ICMP socket,
            # read it first; the errno alone is the fallback.
            self.backend.drain_icmp(self.side)
            if self.done is not None and self.held is None:
                found = classify_errno(exc.errno or 0, udp=True)
                if found is not None:
                    self.settle(Outcome(found[0], found[1], None, self.rtt(None)[0]))
            return
        del data
        if self.done is None:
            return  # a late answer between tries: the next try will get its own
        extra = _Ancillary(ancdata)
        rtt, exact = self.rtt(extra.stamp)
        if extra.ttl is not None:
            self.backend.learn(self.packed, extra.ttl)
        self.settle(Outcome(State.OPEN, "udp-response", self.address, rtt, exact, ttl=extra.ttl))

    def expire(self) -> Outcome:
        if self.done is None:
            return SILENT
        # What arrived while the loop was busy still counts; it is returned, not passed to
        # the engine's callback, which must not hear of this try twice.
        caught: list[Outcome] = []
        self.done = caught.append
        self._ready()
        if caught:
            return caught[0]
        self.done = None
        return self._take_held()

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        self.done = None
        self.held = None
        self.backend.udp_channels.pop(self.key, None)
        if self.fd != -1:
            self.poller.unwatch(self.fd, False, closing=True)
            self.fd = -1
        self.sock.close()


_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_BPF_LDX_B_MSH, _BPF_LD_H_IND, _BPF_LD_H_ABS = 0xB1, 0x48, 0x28
_BPF_JEQ_K, _BPF_RET_K = 0x15, 0x06


def _keep_only_port(sock: socket.socket, version: int, port: int) -> None:
    """Have the kernel drop, before they are queued, the TCP segments not sent to ``port``.

    A raw TCP socket receives a copy of every TCP segment the host gets: on a busy server
    (a SEP manager with its clients) that would be thousands a second for the event loop
    to read and discard. A classic BPF program keeps only those whose destination port is
    the probes' source port. An IPv4 raw socket's filter sees the IP header first (the TCP
    header starts at IHL*4); an IPv6 one sees the TCP header. Linux only; where it cannot
    be attached, the reader filters by port itself as before."""
    import ctypes

    if version == 4:
        program = [
            (_BPF_LDX_B_MSH, 0, 0, 0),  # X = 4 * (IP header length)
            (_BPF_LD_H_IND, 0, 0, 2),  # A = TCP destination port
        ]
    else:
        program = [(_BPF_LD_H_ABS, 0, 0, 2)]
    program += [(_BPF_JEQ_K, 0, 1, port), (_BPF_RET_K, 0, 0, 0x40000), (_BPF_RET_K, 0, 0, 0)]
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


class _Side:
    """The raw sockets of one address family."""

    def __init__(self, backend: RawBackend, family: int) -> None:
        self.family = family
        self.version = 4 if family == socket.AF_INET else 6
        self.sources: dict[bytes, bytes] = {}
        self.tcp_ttl: int | None = None
        opened: list[socket.socket] = []
        try:
            self.tcp = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
            opened.append(self.tcp)
            icmp = socket.IPPROTO_ICMP if self.version == 4 else socket.IPPROTO_ICMPV6
            self.icmp = socket.socket(family, socket.SOCK_RAW, icmp)
            opened.append(self.icmp)
            self.holder = socket.socket(family, socket.SOCK_STREAM)
            opened.append(self.holder)
            if self.version == 6:
                self.holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            self.holder.bind(("::" if self.version == 6 else "0.0.0.0", 0))
            self.sport: int = self.holder.getsockname()[1]
            if sys.platform == "linux":
                _keep_only_port(self.tcp, self.version, self.sport)
            for sock in (self.tcp, self.icmp):
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                # As root the buffer may exceed rmem_max: bursts of replies must not be
                # dropped before the loop reads them (a drop would look like silence).
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECEIVE_BUFFER)
                if self.version == 6:
                    sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
        except BaseException:
            for sock in opened:
                sock.close()
            raise
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.tcp.fileno(), backend.read_tcp, self)
        self.loop.add_reader(self.icmp.fileno(), backend.drain_icmp, self)

    def source_for(self, address: str, packed: bytes) -> bytes:
        """The address this host sends from toward ``address`` (for the TCP checksum):
        the kernel's route lookup, done once per destination by connecting a UDP socket
        (which sends nothing)."""
        found = self.sources.get(packed)
        if found is None:
            with socket.socket(self.family, socket.SOCK_DGRAM) as probe:
                probe.connect((address, 9))
                found = packets.pack_address(probe.getsockname()[0])
            self.sources[packed] = found
        return found

    def set_ttl(self, sock: socket.socket, ttl: int | None, *, force: bool = True) -> None:
        """Set the TTL of what ``sock`` sends (None: the system default, -1 for Linux)."""
        if sock is self.tcp:
            if ttl == self.tcp_ttl:
                return
            self.tcp_ttl = ttl
        elif ttl is None and not force:
            return
        value = -1 if ttl is None else ttl
        if self.version == 4:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_UNICAST_HOPS, value)

    def receive(self, sock: socket.socket) -> tuple[bytes, _Ancillary, bytes] | None:
        """One packet, its ancillary data and its sender (packed); None when drained."""
        try:
            data, ancdata, _, peer = sock.recvmsg(65535, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return None
        return data, _Ancillary(ancdata), packets.pack_address(peer[0].partition("%")[0])

    def close(self) -> None:
        for sock in (self.tcp, self.icmp):
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(sock.fileno())
            sock.close()
        self.holder.close()


class RawBackend:
    """Probes with raw sockets. Use it inside the event loop that runs the probes, and
    ``close()`` it when the run is over. ``start_tcp`` and ``open_udp`` take a ``ttl``
    (traceroute) besides what the engine's Backend protocol asks for."""

    def __init__(self) -> None:
        self.sides: dict[int, _Side] = {}
        self.tcp_tries: dict[tuple[bytes, int, int], RawTcpTry] = {}
        self.udp_channels: dict[tuple[bytes, int, int], RawUdpChannel] = {}
        self.host_ttl: dict[bytes, int] = {}
        """Reference TTL per host: the first TTL seen on one of its own answers."""
        self.waiting: dict[bytes, list[_Pending]] = {}
        self.pinged: set[bytes] = set()
        self.ident = os.getpid() & 0xFFFF
        self.echo_seq = 0
        self._poller: _Poller | None = None

    # -- the engine's Backend protocol ------------------------------------------------

    async def resolve(self, name: str, family: int) -> list[str]:
        return await resolve_addresses(name, family)

    def start_tcp(self, address: str, port: int, done: Done, ttl: int | None = None) -> RawTcpTry:
        packed = packets.pack_address(address)
        return RawTcpTry(self, self._side(packed), address, packed, port, done, ttl)

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> RawUdpChannel:
        packed = packets.pack_address(address)
        return RawUdpChannel(self, self._side(packed), address, packed, port, ttl)

    def close(self) -> None:
        for side in self.sides.values():
            side.close()
        self.sides.clear()
        for channel in list(self.udp_channels.values()):
            channel.close()
        self.tcp_tries.clear()
        self.waiting.clear()
        if self._poller is not None:
            self._poller.close()
            self._poller = None

    # -- plumbing ---------------------------------------------------------------------

    def poller(self) -> _Poller:
        self._poller = running_poller(self._poller)
        return self._poller

    def _side(self, packed: bytes) -> _Side:
        family = socket.AF_INET6 if len(packed) == 16 else socket.AF_INET
        side = self.sides.get(family)
        if side is None:
            side = self.sides[family] = _Side(self, family)
        return side

    # -- replies ----------------------------------------------------------------------

    def read_tcp(self, side: _Side) -> None:
        tries = self.tcp_tries
        for _ in range(_BATCH):
            got = side.receive(side.tcp)
            if got is None:
                return
            data, extra, sender = got
            if side.version == 4:
                reply = packets.parse_tcp4(data)
            else:
                reply = packets.parse_tcp6(data, sender, extra.ttl or 0)
            if reply is None or reply.dport != side.sport:
                continue
            attempt = tries.get((reply.source, reply.sport, (reply.ack - 1) & 0xFFFFFFFF))
            if attempt is None or attempt.done is None or not reply.flags & packets.TCP_ACK:
                continue
            rtt, exact = attempt.rtt(extra.stamp)
            flags = reply.flags
            if flags & packets.TCP_RST:
                self._closed(
                    attempt,
                    Outcome(State.REFUSED, "reset", attempt.address, rtt, exact, ttl=reply.ttl),
                )
            elif flags & packets.TCP_SYN:
                self.learn(reply.source, reply.ttl)
                attempt.settle(
                    Outcome(State.OPEN, "syn-ack", attempt.address, rtt, exact, ttl=reply.ttl)
                )

    def drain_icmp(self, side: _Side) -> None:
        for _ in range(_BATCH):
            got = side.receive(side.icmp)
            if got is None:
                return
            data, extra, sender = got
            if side.version == 4:
                reply = packets.parse_icmp4(data)
            else:
                reply = packets.parse_icmp6(data, sender, extra.ttl or 0)
            if reply is None:
                continue
            if reply.echo_id is not None:
                if reply.echo_id == self.ident and reply.source in self.pinged:
                    self.learn(reply.source, reply.ttl)
                continue
            self._icmp_error(side, reply, extra)

    def _icmp_error(self, side: _Side, reply: packets.IcmpReply, extra: _Ancillary) -> None:
        dest, proto = reply.quoted_destination, reply.quoted_protocol
        if dest is None or reply.quoted_dport is None:
            return
        attempt: _Pending | None
        if proto == packets.PROTO_TCP:
            if reply.quoted_sport != side.sport or reply.quoted_seq is None:
                return
            attempt = self.tcp_tries.get((dest, reply.quoted_dport, reply.quoted_seq))
        elif proto == packets.PROTO_UDP and reply.quoted_sport is not None:
            attempt = self.udp_channels.get((dest, reply.quoted_dport, reply.quoted_sport))
        else:
            return
        if attempt is None or attempt.done is None:
            return
        found = classify_icmp(reply.version, reply.type, reply.code)
        if found is None:
            return
        state, reason = found
        rtt, exact = attempt.rtt(extra.stamp)
        sender = packets.unpack_address(reply.source)
        outcome = Outcome(state, reason, sender, rtt, exact, ttl=reply.ttl)
        if reason == "port-unreach":
            self._closed(attempt, outcome)
        else:
            attempt.settle(outcome)

    # -- who sent a "closed" answer -----------------------------------------------------

    def _closed(self, attempt: _Pending, outcome: Outcome) -> None:
        if outcome.reply_from is not None and outcome.reply_from != attempt.address:
            # Only the host can say its own port is closed: a port unreachable from any
            # other address is a firewall's reject.
            attempt.settle(
                Outcome(
                    outcome.state,
                    "forged-port-unreach",
                    outcome.reply_from,
                    outcome.rtt,
                    outcome.rtt_exact,
                    outcome.ttl,
                    f"port-unreach forged by {outcome.reply_from}, a device on the path "
                    f"(only {attempt.address} can say its port is closed; ttl {outcome.ttl})",
                )
            )
            return
        reference = self.host_ttl.get(attempt.packed)
        if reference is not None:
            attempt.settle(self.judged(outcome, attempt.address, reference))
            return
        attempt.held = outcome
        self.waiting.setdefault(attempt.packed, []).append(attempt)
        self._ping(attempt.packed, attempt.address)

    def judged(self, outcome: Outcome, address: str, reference: int | None) -> Outcome:
        """A 'closed' outcome with the verdict on who sent it."""
        what = "reset" if outcome.reason == "reset" else "port-unreach"
        verdict = judge_ttl(what, outcome.ttl, reference, address)
        reason = f"forged-{what}" if verdict.forged else what
        return Outcome(
            outcome.state,
            reason,
            outcome.reply_from,
            outcome.rtt,
            outcome.rtt_exact,
            outcome.ttl,
            verdict.note,
        )

    def learn(self, packed: bytes, ttl: int) -> None:
        """A TTL seen on one of the host's own answers: the reference for its others."""
        if packed in self.host_ttl:
            return
        self.host_ttl[packed] = ttl
        for attempt in self.waiting.pop(packed, ()):
            held = attempt.held
            if held is not None and attempt.done is not None:
                attempt.settle(self.judged(held, attempt.address, ttl))

    def _ping(self, packed: bytes, address: str) -> None:
        """Ask the host for a reference TTL: one ICMP echo request per host and run."""
        if packed in self.pinged:
            return
        self.pinged.add(packed)
        side = self._side(packed)
        self.echo_seq = (self.echo_seq + 1) & 0xFFFF
        request = packets.echo_request(side.version, self.ident, self.echo_seq)
        with contextlib.suppress(OSError):  # no echo: the answer may come another way
            side.icmp.sendto(request, (address, 0))
