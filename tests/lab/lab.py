"""A three-host network lab in Linux network namespaces (after the team's lab notes,
checked on these machines).

    client (198.18.1.2, fd00:1::2) -- router (nftables) -- server (198.18.2.2, fd00:2::2)

Names are unique per run (they carry the creating process id), so a leftover lab never
breaks the next one, and labs left by dead processes are removed when a new one is built.
Only 198.18.0.0/15 and fd00::/8 addresses are used, with no route out of the lab.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "sclab"
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, ns: str | None = None, check: bool = True, input: str | None = None) -> str:
    command = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    done = subprocess.run(command, capture_output=True, text=True, input=input, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def missing_requirements() -> str | None:
    if sys.platform != "linux":
        return "network-namespace labs need Linux"
    if os.geteuid() != 0:
        return "network-namespace labs need root (CI runs as root)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 nftables)"
    return None


def sweep_stale() -> None:
    """Delete labs whose creating process is gone (a killed test run)."""
    for line in run("ip", "netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        try:
            pid = int(name[len(PREFIX) :].split("x", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            run("ip", "netns", "del", name, check=False)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


@dataclass
class Lab:
    token: str = field(default_factory=lambda: f"{os.getpid()}x{secrets.token_hex(2)}")
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    saved_sysctls: dict[str, str] = field(default_factory=dict)

    client_v4 = "198.18.1.2"
    router_v4 = "198.18.1.1"
    server_v4 = "198.18.2.2"
    client_v6 = "fd00:1::2"
    router_v6 = "fd00:1::1"
    server_v6 = "fd00:2::2"

    @property
    def client(self) -> str:
        return f"{PREFIX}{self.token}c"

    @property
    def router(self) -> str:
        return f"{PREFIX}{self.token}r"

    @property
    def server(self) -> str:
        return f"{PREFIX}{self.token}s"

    def build(self) -> None:
        sweep_stale()
        for ns in (self.client, self.router, self.server):
            run("ip", "netns", "add", ns)
            run("ip", "link", "set", "lo", "up", ns=ns)
        # veth names are at most 15 characters: v<4 hex>{a,b,c,d}
        tag = secrets.token_hex(3)
        pairs = [
            (self.client, f"v{tag}a", self.router, f"v{tag}b"),
            (self.router, f"v{tag}c", self.server, f"v{tag}d"),
        ]
        for left_ns, left, right_ns, right in pairs:
            run(
                "ip",
                "link",
                "add",
                left,
                "netns",
                left_ns,
                "type",
                "veth",
                "peer",
                "name",
                right,
                "netns",
                right_ns,
            )
            run("ip", "link", "set", left, "up", ns=left_ns)
            run("ip", "link", "set", right, "up", ns=right_ns)
        ca, rb, rc, sd = (p for pair in pairs for p in (pair[1], pair[3]))
        self._addr(self.client, ca, "198.18.1.2/24", "fd00:1::2/64")
        self._addr(self.router, rb, "198.18.1.1/24", "fd00:1::1/64")
        self._addr(self.router, rc, "198.18.2.1/24", "fd00:2::1/64")
        self._addr(self.server, sd, "198.18.2.2/24", "fd00:2::2/64")
        run("ip", "route", "add", "default", "via", "198.18.1.1", ns=self.client)
        run("ip", "-6", "route", "add", "default", "via", "fd00:1::1", ns=self.client)
        run("ip", "route", "add", "default", "via", "198.18.2.1", ns=self.server)
        run("ip", "-6", "route", "add", "default", "via", "fd00:2::1", ns=self.server)
        # Local routes in the client: a blackhole-style reject (EHOSTUNREACH at once) and a
        # prohibit route (EACCES: the local policy says no).
        run("ip", "route", "add", "unreachable", "198.18.201.0/24", ns=self.client)
        run("ip", "route", "add", "prohibit", "198.18.202.0/24", ns=self.client)
        run("ip", "-6", "route", "add", "unreachable", "fd00:201::/64", ns=self.client)
        run("ip", "-6", "route", "add", "prohibit", "fd00:202::/64", ns=self.client)
        # AnyIP: the server answers for the whole of 198.19.0.0/16 (scale targets).
        run("ip", "route", "add", "local", "198.19.0.0/16", "dev", "lo", ns=self.server)
        run("ip", "route", "add", "198.19.0.0/16", "via", "198.18.2.2", ns=self.router)
        # Every ICMP error is wanted in the lab: no per-peer limit and a global budget far
        # above what the tests send (Linux sends 1,000 errors per second by default).
        icmp = (
            ("net.ipv4.icmp_ratelimit", "0"),
            ("net.ipv6.icmp.ratelimit", "0"),
            ("net.ipv4.icmp_msgs_per_sec", "1000000"),
            ("net.ipv4.icmp_msgs_burst", "100000"),
        )
        for key, value in (
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            *icmp,
        ):
            run("sysctl", "-qw", f"{key}={value}", ns=self.router)
        for key, value in icmp:
            run("sysctl", "-qw", f"{key}={value}", ns=self.server)
        # The router's "no route" ICMP errors are rate-limited by a host-wide setting (one
        # per second per peer, and the first one suppressed): lift it while the lab runs so
        # every probe gets its answer, and put it back at teardown.
        key = "net.ipv4.route.error_cost"
        self.saved_sysctls[key] = run("sysctl", "-n", key).strip()
        run("sysctl", "-qw", f"{key}=0")
        # Names inside the client: ip netns exec bind-mounts /etc/netns/NAME/* over /etc.
        # The resolver points at the client's own loopback, where nothing answers, so a
        # name that is not in hosts fails at once instead of waiting on a real resolver.
        etc = Path("/etc/netns") / self.client
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(
            "127.0.0.1 localhost\n::1 localhost\n"
            "198.18.2.2 server.lab.test\nfd00:2::2 server6.lab.test\n"
        )
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

    def _addr(self, ns: str, dev: str, v4: str, v6: str) -> None:
        run("ip", "addr", "add", v4, "dev", dev, ns=ns)
        run("ip", "-6", "addr", "add", v6, "dev", dev, "nodad", ns=ns)

    def firewall(self, rules: str) -> None:
        """Replace the router's forward filter with ``rules`` (nft syntax, one per line)."""
        run("nft", "delete", "table", "inet", "lab", ns=self.router, check=False)
        script = (
            "table inet lab {\n  chain forward_filter {\n"
            "    type filter hook forward priority 0; policy accept;\n"
            f"{rules}\n  }}\n}}\n"
        )
        run("nft", "-f", "-", ns=self.router, input=script)

    def serve(self, tcp: list[int], udp: list[int], ns: str | None = None) -> None:
        """Listen on these ports in the server namespace (or in ``ns``)."""
        command = [
            "ip",
            "netns",
            "exec",
            ns or self.server,
            sys.executable,
            "-m",
            "tests.lab.listener",
            "--tcp",
            ",".join(map(str, tcp)),
            "--udp",
            ",".join(map(str, udp)),
        ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            error = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"lab listener did not start: {error}")

    def exec(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command in the client namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", self.client, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.client, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def teardown(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.communicate(timeout=5)  # also closes the pipes
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        self.processes.clear()
        for ns in (self.client, self.router, self.server):
            run("ip", "netns", "del", ns, check=False)
        for key, value in self.saved_sysctls.items():
            run("sysctl", "-qw", f"{key}={value}", check=False)
        self.saved_sysctls.clear()
        shutil.rmtree(Path("/etc/netns") / self.client, ignore_errors=True)
        # Namespaces can take a moment to go; nothing depends on it.
        time.sleep(0)
