"""Real servers in a lab namespace, for the application checks: Debian's OpenSSH and
Samba, OpenSSL's test server, Python's http.server, and the responders in
tests/responders.

Each helper starts one server inside a namespace, registers it for the lab's teardown
(``lab.processes``: its process group gets SIGTERM) and returns once it listens, or
raises saying why (the end of its log) within a bounded wait. Every file a server needs
or writes (configuration, keys, state, logs) lives in a folder of its own that goes with
the lab, so the machine's own sshd and samba state is never touched.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Literal

from tests.lab.lab import ROOT, Lab, run

KeyKind = Literal["rsa2048", "rsa4096", "ec256"]
NEWKEY: dict[str, tuple[str, ...]] = {
    "rsa2048": ("-newkey", "rsa:2048"),
    "rsa4096": ("-newkey", "rsa:4096"),
    "ec256": ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
}
STARTUP = 20.0
"""Seconds a server has to listen: samba's first start creates its databases."""
# Daemons live in sbin, which a non-login PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PACKAGES = {"sshd": "openssh-server", "ssh-keygen": "openssh-client"}
PACKAGES |= {"smbd": "samba", "openssl": "openssl"}


def tool(name: str) -> str | None:
    """The absolute path of ``name`` (sshd must be run by one to re-execute itself)."""
    return shutil.which(name, path=SEARCH_PATH)


def missing(*names: str) -> str | None:
    """Why these servers cannot run here (a skip reason), or None."""
    for name in names:
        if tool(name) is None:
            return f"{name} is not installed (apt-get install {PACKAGES.get(name, name)})"
    return None


def _need(name: str) -> str:
    path = tool(name)
    if path is None:
        raise RuntimeError(missing(name))
    return path


def folder(lab: Lab, role: str) -> Path:
    """A fresh folder for one server, removed when the lab object goes (or at exit)."""
    path = Path(tempfile.mkdtemp(prefix=f"sclab-{role}-"))
    weakref.finalize(lab, shutil.rmtree, path, ignore_errors=True)
    return path


def make_cert(
    folder: Path,
    name: str,
    *,
    key: KeyKind = "rsa2048",
    days: int = 400,
    cn: str = "sepm01.lab.test",
) -> tuple[Path, Path]:
    """A self-signed certificate valid from now for ``days`` days: (cert, key) in PEM."""
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    command = [_need("openssl"), "req", "-x509", *NEWKEY[key], "-days", str(days), "-nodes"]
    command += ["-subj", f"/CN={cn}", "-keyout", str(key_path), "-out", str(cert_path)]
    run(*command)
    return cert_path, key_path


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _spawn(
    lab: Lab, ns: str, command: list[str], log: Path, *, ready_line: bool = False
) -> subprocess.Popen[str]:
    """Start ``command`` in ``ns`` in a process group of its own (what teardown kills),
    its output in ``log``; with ``ready_line``, its stdout stays a pipe for "ready"."""
    with log.open("w") as output:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *command],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if ready_line else output,
            stderr=output if ready_line else subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    lab.processes.append(process)
    return process


def wait_listening(
    ns: str, process: subprocess.Popen[str], port: int, log: Path, *, sockets: int = 1
) -> None:
    """Return once ``sockets`` TCP sockets listen on ``port`` in ``ns`` (one per family,
    or one dual-stack socket); raise with the server's log if it exits or takes too long.
    A listening socket completes handshakes from then on: connections are accepted."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{log.stem} exited ({process.returncode}) before listening on port "
                f"{port}:\n{_tail(log)}"
            )
        listening = run("ss", "-Hltn", f"sport = :{port}", ns=ns).splitlines()
        if len(listening) >= sockets:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{log.stem}: nothing on port {port} after {STARTUP:.0f} s:\n{_tail(log)}")


def start_sshd(lab: Lab, ns: str, port: int = 22) -> subprocess.Popen[str]:
    """Debian's OpenSSH server on ``port`` (IPv4 and IPv6), with a throwaway host key
    and configuration; no login can succeed (no PAM, no passwords, no keys)."""
    home = folder(lab, "sshd")
    key = home / "host_ed25519"
    run(_need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 0.0.0.0\nListenAddress ::\nHostKey {key}\n"
        f"PidFile {home / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication no\n"
        # Unauthenticated connections end soon: their children leave the process group.
        "LoginGraceTime 10\n"
    )
    # sshd refuses to start without its privilege separation directory (Debian's
    # service creates it at boot; a container may not have it).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = home / "sshd.log"
    process = _spawn(lab, ns, [_need("sshd"), "-D", "-e", "-f", str(config)], log)
    wait_listening(ns, process, port, log, sockets=2)
    return process


def start_smbd(
    lab: Lab, ns: str, signing: Literal["mandatory", "auto"] = "auto"
) -> subprocess.Popen[str]:
    """Debian's Samba on 445 (IPv4 and IPv6) with ``server signing = signing``; every
    directory it writes is in a folder of its own (not /var/lib/samba nor /run/samba)."""
    home = folder(lab, "smbd")
    dirs = {name: home / name for name in ("lock", "state", "cache", "pid", "private", "ncalrpc")}
    for path in dirs.values():
        path.mkdir(mode=0o755)
    config = home / "smb.conf"
    config.write_text(
        "[global]\n"
        "  server role = standalone server\n"
        "  workgroup = LAB\n"
        "  smb ports = 445\n"
        "  disable netbios = yes\n"
        f"  server signing = {signing}\n"
        f"  lock directory = {dirs['lock']}\n"
        f"  state directory = {dirs['state']}\n"
        f"  cache directory = {dirs['cache']}\n"
        f"  pid directory = {dirs['pid']}\n"
        f"  private dir = {dirs['private']}\n"
        f"  ncalrpc dir = {dirs['ncalrpc']}\n"
        f"  binddns dir = {dirs['private']}/bind-dns\n"
        f"  passdb backend = tdbsam:{dirs['private']}/passdb.tdb\n"
        f"  log file = {home}/log.%m\n"
        "  usershare path =\n"
        "  load printers = no\n"
        "  printing = bsd\n"
        "  printcap name = /dev/null\n"
        "  disable spoolss = yes\n"
    )
    log = home / "smbd.log"
    command = [_need("smbd"), "--foreground", "--no-process-group", "--debug-stdout"]
    process = _spawn(lab, ns, [*command, "-s", str(config)], log)
    # The namespace's interfaces are all it has: smbd's default sockets, "::" and
    # 0.0.0.0, serve its IPv4, IPv6 and AnyIP addresses.
    wait_listening(ns, process, 445, log, sockets=2)
    return process


def start_tls_server(lab: Lab, ns: str, port: int, cert: Path, key: Path) -> subprocess.Popen[str]:
    """``openssl s_server`` on ``port``: a real TLS server (one connection at a time)
    that answers an HTTP GET with its status page."""
    log = folder(lab, "tls") / "s_server.log"
    # A bare port, not [::]:PORT: s_server then asks for both families and listens on
    # one IPv6 socket with IPV6_V6ONLY off; with [::] it sets IPV6_V6ONLY.
    command = [_need("openssl"), "s_server", "-accept", str(port), "-www"]
    command += ["-cert", str(cert), "-key", str(key)]
    process = _spawn(lab, ns, command, log)
    wait_listening(ns, process, port, log)
    return process


def start_http(lab: Lab, ns: str, port: int, title: str) -> subprocess.Popen[str]:
    """Python's http.server on ``port`` (dual stack), serving an index.html titled
    ``title``."""
    home = folder(lab, "http")
    site = home / "site"
    site.mkdir()
    (site / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n<body></body></html>\n"
    )
    log = home / "http.log"
    # http.server's command line binds "::" with a dual-stack socket (IPV6_V6ONLY off).
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "::"]
    process = _spawn(lab, ns, [*command, "--directory", str(site)], log)
    wait_listening(ns, process, port, log)
    return process


def start_responder(lab: Lab, ns: str, *args: str) -> subprocess.Popen[str]:
    """``python -m ARGS`` (tests.responders.sepm, tests.responders.tds) in ``ns``, once
    it prints "ready" on stdout; its stderr goes to a log."""
    log = folder(lab, "responder") / "responder.log"
    process = _spawn(lab, ns, [sys.executable, "-m", *args], log, ready_line=True)
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        # Nothing else is written to stdout, so one readable event carries the line.
        line = process.stdout.readline() if selector.select(STARTUP) else ""
    if line.strip() != "ready":
        process.poll()
        state = "timed out" if process.returncode is None else f"exit {process.returncode}"
        raise RuntimeError(f"{' '.join(args)} did not start ({state}):\n{_tail(log)}")
    return process
