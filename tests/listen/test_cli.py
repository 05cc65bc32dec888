"""`sepcheck listen` as a user meets it: bad input is one line, a hint and exit code 2;
a run prints what it listens on, the token and each probe, and writes a valid report
when --for ends, on Ctrl-C and on SIGTERM (exit code 0). Every process here listens on
127.0.0.1 and ::1 only (SEPCHECK_LISTEN_ADDRESSES), on a free high port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sepcheck.cli.listen import ListenOptions, build_job, parse_duration
from sepcheck.errors import UsageError
from sepcheck.listen.ports import PortSpec
from sepcheck.listen.report import load_report
from sepcheck.model import Protocol, Role
from sepcheck.net import beacon
from sepcheck.net.beacon import Kind
from tests.listen.helpers import KEY, probe

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "00112233445566778899aabbccddeeff"
ENV = {"SEPCHECK_LISTEN_ADDRESSES": "127.0.0.1,::1"}


def sepcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SEPCHECK_RESPONDER_TOKEN"}
    return subprocess.Popen(
        [sys.executable, "-m", "sepcheck", "listen", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**environ, "PYTHONPATH": str(ROOT), **ENV, **(env or {})},
    )


def free_port() -> int:
    """A port free for TCP and UDP on both loopback addresses, as the kernel chose it."""
    while True:
        with socket.socket() as probe_socket:
            probe_socket.bind(("127.0.0.1", 0))
            port = int(probe_socket.getsockname()[1])
        try:
            for family, kind, address in (
                (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
                (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
                (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
            ):
                with socket.socket(family, kind) as other:
                    other.bind((address, port))
        except OSError:
            continue
        return port


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("24h", 86400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "", "m", "1d", "-5m", "1.5h", "0s", "25h", "30m1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--for: "):
        parse_duration(text)


def test_a_job_of_ports_and_a_new_token() -> None:
    job = build_job(ListenOptions(ports="tcp/8014,udp/514"))
    # udp/514's TCP twin answers queries: a UDP-only host can say what it received.
    assert [str(p) for p in job.ports] == ["tcp/8014", "udp/514", "tcp/514"]
    assert job.duration == 1800
    assert job.addresses == ("0.0.0.0", "::")
    assert beacon.parse_token(job.token) == job.key
    assert build_job(ListenOptions(ports="tcp/1")).token != job.token


def test_a_given_token_is_kept() -> None:
    job = build_job(ListenOptions(ports="tcp/8014", token=" 00112233 44556677 8899AABB CCDDEEFF "))
    assert (job.token, job.key) == (TOKEN, KEY)


BAD = [
    (("--ports", "tcp/8014,,udp/514"), "--ports: empty item"),
    (("--ports", "tcp/99999"), "--ports: 'tcp/99999': no such port"),
    (("--ports", "tcp/8014", "--for", "30"), "--for: '30' is not a duration"),
    (("--ports", "tcp/8014", "--for", "48h"), "--for: 48h is out of range"),
    (("--ports", "tcp/8014", "--token", "abc"), "--token: a responder token is 32 hex"),
    ((), "no ports to listen on: give --topology FILE --as ROLE, or --ports LIST"),
    (("--as", "manager"), "no ports to listen on: --topology FILE is missing"),
    (("--topology", "x.toml"), "no ports to listen on: --as ROLE is missing"),
    (("--ports", "tcp/1", "--as", "manager"), "--ports cannot be mixed with --topology/--as"),
    (("--ports", "tcp/8014", "-o", "r.txt"), "--output r.txt: the responder's report is JSON"),
]


@pytest.mark.parametrize(("args", "words"), BAD)
def test_bad_input_is_one_line_a_hint_and_exit_2(args: tuple[str, ...], words: str) -> None:
    process = sepcheck(*args)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"sepcheck: error: {words}")
    assert lines[1].startswith("  hint: ")


def test_nothing_to_listen_on_is_an_error() -> None:
    with socket.socket() as service:
        service.bind(("127.0.0.1", 0))
        service.listen(1)
        port = service.getsockname()[1]
        process = sepcheck("--ports", f"tcp/{port}", env={"SEPCHECK_LISTEN_ADDRESSES": "127.0.0.1"})
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert f"{port} in use by another process" in err
    assert len(err.strip().splitlines()) == 2


def _started(process: subprocess.Popen[str]) -> list[str]:
    """The lines the responder says when it starts (the last one names the token)."""
    assert process.stderr is not None
    lines: list[str] = []
    while not lines or "--responder-token" not in lines[-1]:
        line = process.stderr.readline()
        assert line, f"the responder ended: {lines}"
        lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_writes_a_valid_report_and_exits_0(tmp_path: Path, signum: int) -> None:
    port = free_port()
    report = tmp_path / "listen.json"
    args = ("--ports", f"tcp/{port},udp/{port}", "--token", TOKEN, "-o", str(report))
    process = sepcheck(*args, "--for", "10m")
    try:
        started = _started(process)
        assert (
            started[0]
            == f"sepcheck listen: listening on tcp/{port} (ipv4, ipv6), udp/{port} (ipv4, ipv6)"
        )
        assert started[-1].endswith(f"sepcheck check ... --responder-token {TOKEN}")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(probe(Kind.PROBE_TCP, port))
            reply = beacon.decode(KEY, client.recv(100))
            source = client.getsockname()[1]
        assert reply is not None
        assert reply.kind is Kind.REPLY
        assert process.stderr is not None
        line = process.stderr.readline().strip()
        assert line == f"tcp/{port} from 127.0.0.1:{source} probe answered"
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert err.strip().splitlines()[-1].startswith(f"sepcheck listen: stopped by {name} after ")
    text = report.read_text(encoding="utf-8")
    assert TOKEN not in text
    data = load_report(report)
    assert (data.complete, data.stopped_by) == (False, name)
    assert [(e.what, e.source.port, e.answered) for e in data.events] == [("probe", source, True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["listen.json"]


def test_a_run_ends_on_its_own_after_for(tmp_path: Path) -> None:
    report = tmp_path / "listen.json"
    process = sepcheck("--ports", f"udp/{free_port()}", "--for", "1s", "-o", str(report), "-q")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["complete"], data["stopped_by"], data["events"]) == (True, None, [])
    assert "sepcheck listen: ran for 1s: 0 probes" in err


SITE = """
[roles.manager]
hosts = ["198.18.0.10"]
[roles.client]
hosts = ["198.18.1.0/28"]
[ports]
client-manager-http = 18014
"""


def test_a_job_of_a_site_role(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE, encoding="utf-8")
    job = build_job(ListenOptions(topology_path=site, roles=(Role.MANAGER,)))
    assert "tcp/18014" in {str(p) for p in job.ports}
    assert job.topology_path == site
    with pytest.raises(UsageError, match="no flow of this site goes to a remote_console"):
        build_job(ListenOptions(topology_path=site, roles=(Role.REMOTE_CONSOLE,)))


def test_roles_together_listen_on_the_union_and_udp_gets_its_query_twin(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE + '[roles.syslog]\nhosts = ["198.18.0.11"]\n', encoding="utf-8")
    manager = build_job(ListenOptions(topology_path=site, roles=(Role.MANAGER,)))
    both = build_job(ListenOptions(topology_path=site, roles=(Role.MANAGER, Role.SYSLOG)))
    assert set(both.ports) - set(manager.ports) == {
        PortSpec(Protocol.UDP, 514),
        PortSpec(Protocol.TCP, 514),
    }
