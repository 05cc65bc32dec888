"""`sepcheck listen` in a lab namespace, and a flooder of non-token traffic to aim at it.

    python -m tests.lab.responder flood --address 198.18.2.2 --token HEX

``Listener`` starts the responder, returns once it says "listening on" (bounded), keeps
every line it prints, and ``stop`` ends it with SIGINT, as Ctrl-C would, so that it writes
its report. The flood runs in the client namespace (``lab.exec``) and prints one JSON line
saying what came back to it.
"""

from __future__ import annotations

import argparse
import errno
import json
import queue
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sepcheck.listen.report import ListenReport, load_report
from sepcheck.net.beacon import (
    SIZE,
    Endpoint,
    Kind,
    Message,
    decode,
    encode,
    fingerprint,
    new_nonce,
    new_token,
    parse_token,
)
from tests.lab.lab import ROOT, Lab, run

STARTUP = 20.0
"""Seconds the responder has to say it listens."""


@dataclass
class Listener:
    """A running `sepcheck listen` and what it printed on stderr so far."""

    process: subprocess.Popen[str]
    output: Path
    token: str
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _reader: threading.Thread | None = None
    report: ListenReport | None = None
    flooded: int = 0
    """Datagrams without the token sent at it (by the flood test), for the report's count."""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def fingerprint(self) -> str:
        """The token's fingerprint, as the reports of both sides name it."""
        return fingerprint(parse_token(self.token))

    def start_reading(self) -> None:
        """Drain stderr in a thread: a responder printing a line per probe must never
        block on a full pipe."""
        stream = self.process.stderr
        assert stream is not None

        def read() -> None:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout: float) -> str:
        """The first line (from now on) that contains ``text``; raises on exit or timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self.process.wait(timeout=5)
                raise RuntimeError(
                    f"sepcheck listen exited ({self.process.returncode}):\n" + "\n".join(self.lines)
                )
            self.lines.append(line)
            if text in line:
                return line
        raise RuntimeError(
            f"sepcheck listen: no {text!r} in {timeout:.0f} s:\n" + "\n".join(self.lines)
        )

    def await_lines(self, wanted: set[str], timeout: float) -> set[str]:
        """Wait until every line of ``wanted`` was printed: those still missing after
        ``timeout`` seconds (none when all came)."""
        deadline = time.monotonic() + timeout
        while wanted - set(self.lines) and (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return wanted - set(self.lines)

    def drain(self) -> list[str]:
        """Every line printed so far (those not yet taken are taken now)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return self.lines
            if line is not None:
                self.lines.append(line)

    def stop(self) -> ListenReport:
        """SIGINT (Ctrl-C), then the report it writes; once only, later calls return it."""
        if self.report is not None:
            return self.report
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=15)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.drain()
        self.report = load_report(self.output)
        return self.report


def start_listener(lab: Lab, ports: str, output: Path, duration: str = "10m") -> Listener:
    """`sepcheck listen --ports PORTS` in the server namespace with a fresh token, once it
    listens; the lab's teardown kills it if ``stop`` was never called."""
    token = new_token()
    command = ["ip", "netns", "exec", lab.server, sys.executable, "-m", "sepcheck", "listen"]
    command += ["--ports", ports, "--for", duration, "--token", token, "-o", str(output)]
    # ip netns exec execs the command: the pid is the responder's own (for psutil, SIGINT).
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lab.processes.append(process)
    listener = Listener(process, output, token)
    listener.start_reading()
    listener.wait_for("listening on", STARTUP)
    return listener


_CONNECT_UNTIL = """
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[1])
for address, port in zip(sys.argv[2::2], map(int, sys.argv[3::2])):
    while True:
        try:
            socket.create_connection((address, port), timeout=0.25).close()
            break
        except OSError as error:
            if time.monotonic() > deadline:
                sys.exit(f"{address} port {port}: {error}")
"""


def wait_reachable(lab: Lab, targets: list[tuple[str, int]], within: float = 10.0) -> None:
    """Return once the client connects to each (address, port), or raise. A fresh lab's
    IPv6 path carries nothing for about two seconds (the router's link-local addresses
    are still tentative), which a check with short timeouts would read as filtered."""
    flat = [str(item) for target in targets for item in target]
    done = lab.exec(sys.executable, "-c", _CONNECT_UNTIL, str(within), *flat, timeout=within + 5)
    if done.returncode != 0:
        raise RuntimeError(f"the lab's paths did not come up: {done.stderr.strip()}")


def udp_delivered(ns: str) -> int:
    """Datagrams the kernel of ``ns`` handed to its UDP sockets (IPv4): what proves that
    a flood reached the responder, whose own counts come only with its report."""
    lines = [line.split() for line in run("cat", "/proc/net/snmp", ns=ns).splitlines()]
    names, values = (pair for pair in lines if pair[0] == "Udp:")
    return int(values[names.index("InDatagrams")])


# -- the flooder (run in the client namespace) ------------------------------------------


def _garbage(index: int, stranger: bytes, port: int) -> bytes:
    """Non-token data of three kinds: a well-formed message of another run's token (the
    closest a stranger gets), random bytes of a message's size, random bytes of any size."""
    kind = index % 3
    if kind == 0:
        return encode(stranger, Message(Kind.PROBE_UDP, port, new_nonce(), None))
    if kind == 1:
        return secrets.token_bytes(SIZE)
    return secrets.token_bytes(1 + index % 1400)


def flood_udp(address: str, port: int, count: int) -> dict[str, int]:
    """Send ``count`` non-token datagrams; count what comes back (nothing should)."""
    stranger = parse_token(new_token())
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    replies = sent = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))
        sock.setblocking(False)
        for index in range(count):
            try:
                sock.send(_garbage(index, stranger, port))
                sent += 1
            except BlockingIOError:
                select.select([], [sock], [], 0.05)
            if index % 200 == 199:
                replies += _drain(sock, 0.001)  # paced: the responder sees most of them
        replies += _drain(sock, 0.5)
    return {"udp_sent": sent, "udp_replies": replies}


def _drain(sock: socket.socket, wait: float) -> int:
    """Datagrams that arrive within ``wait`` seconds (an ICMP error counts as none)."""
    got = 0
    while select.select([sock], [], [], wait)[0]:
        try:
            sock.recv(65536)
            got += 1
        except ConnectionRefusedError:
            continue
        except BlockingIOError:
            break
    return got


def flood_tcp(address: str, port: int, count: int) -> dict[str, int]:
    """Open ``count`` connections at once, send non-token data on each, close the sending
    side, and count the bytes that come back (none should) until each ends."""
    stranger = parse_token(new_token())
    socks: list[socket.socket] = []
    received = 0
    try:
        for index in range(count):
            sock = socket.create_connection((address, port), timeout=5)
            socks.append(sock)
            try:
                sock.sendall(_garbage(index, stranger, port)[: SIZE * 2])
                sock.shutdown(socket.SHUT_WR)
            except OSError as error:
                # The responder resets a connection without the token as soon as it has
                # read it: that reset may beat our shutdown (ENOTCONN) or a send (EPIPE).
                if error.errno not in (errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET):
                    raise
        for sock in socks:
            received += _read_all(sock)
    finally:
        for sock in socks:
            sock.close()
    return {"tcp_connections": len(socks), "tcp_bytes": received}


def _read_all(sock: socket.socket) -> int:
    got = 0
    try:
        while chunk := sock.recv(4096):
            got += len(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return got


def token_probes(address: str, token: str, udp_port: int, tcp_port: int) -> dict[str, int]:
    """One token probe over UDP and one over TCP: the size of each request and of every
    byte that answered it (-1: no valid reply)."""
    key = parse_token(token)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    out: dict[str, int] = {}
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((address, udp_port))
        request = _probe(key, Kind.PROBE_UDP, udp_port, sock)
        sock.send(request)
        reply = sock.recv(65536)
        out["udp_request"], out["udp_reply"] = len(request), _checked(key, reply, request)
    with socket.create_connection((address, tcp_port), timeout=2) as conn:
        request = _probe(key, Kind.PROBE_TCP, tcp_port, conn)
        conn.sendall(request)
        data = b""
        while len(data) < SIZE and (chunk := conn.recv(4096)):
            data += chunk
        # The responder waits for the prober to close first; anything after the reply
        # would come before its end.
        conn.shutdown(socket.SHUT_WR)
        while chunk := conn.recv(4096):
            data += chunk
        out["tcp_request"], out["tcp_reply"] = len(request), _checked(key, data, request)
    return out


def _probe(key: bytes, kind: Kind, port: int, sock: socket.socket) -> bytes:
    own = sock.getsockname()
    return encode(key, Message(kind, port, new_nonce(), Endpoint(str(own[0]), int(own[1]))))


def _checked(key: bytes, reply: bytes, request: bytes) -> int:
    """The reply's size when it is the REPLY to ``request`` (same nonce), else -1."""
    message, asked = decode(key, reply), decode(key, request)
    if message is None or asked is None or message.kind is not Kind.REPLY:
        return -1
    return len(reply) if message.nonce == asked.nonce else -1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.responder")
    parser.add_argument("what", choices=["flood"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--udp", type=int, default=514)
    parser.add_argument("--tcp", type=int, default=8014)
    parser.add_argument("--datagrams", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    result = flood_udp(args.address, args.udp, args.datagrams)
    result |= flood_tcp(args.address, args.tcp, args.connections)
    result |= token_probes(args.address, args.token, args.udp, args.tcp)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
