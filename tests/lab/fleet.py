"""A small SEP site for fleet audits: three hosts, each in a network namespace of its own
with its own host name and a real OpenSSH server, and a router namespace between them
(nftables) where the Ansible controller runs.

    manager sepm01 (198.18.10.2) --+
    client  ws01   (198.18.11.2) --+-- router + controller (198.18.10.1, .11.1, .12.1)
    gup     gup01  (198.18.12.2) --+

The controller reaches every host directly (its own addresses), so the router's forward
filter blocks flows between the hosts and never the controller's SSH. Root logs in with a
key pair made for the run (and nothing else: no password, no PAM); every file (keys,
sshd configurations, known_hosts, Ansible's state) lives in the fleet's own folder. Names
carry the creating process id like Lab's, so tests.lab.lab.sweep_stale removes fleets
left by a killed run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import apps
from tests.lab.lab import PREFIX, ROOT, Lab, run, sweep_stale


@dataclass(frozen=True)
class Host:
    name: str
    """Inventory name and host name (a UTS namespace of its own: what its report says)."""
    suffix: str
    address: str
    gateway: str


HOSTS = (
    Host("sepm01", "m", "198.18.10.2", "198.18.10.1"),
    Host("ws01", "w", "198.18.11.2", "198.18.11.1"),
    Host("gup01", "g", "198.18.12.2", "198.18.12.1"),
)
MANAGER, CLIENT, GUP = HOSTS
# Inventory hosts that are not SEP's: no sepcheck_roles, and sepcheck_roles: [].
NO_ROLES = ("prn01", "prn02")


@dataclass
class Fleet(Lab):
    """The namespaces, the key pair and the servers; ``teardown`` removes them all."""

    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sclab-fleet-")))
    sshd: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def ns(self, host: Host) -> str:
        return f"{PREFIX}{self.token}{host.suffix}"

    @property
    def key(self) -> Path:
        return self.home / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.home / "known_hosts"

    @property
    def bin(self) -> Path:
        """Where this checkout's ``sepcheck`` command is (first on every PATH)."""
        return self.home / "bin"

    def build(self) -> None:
        sweep_stale()
        for ns in (self.router, *(self.ns(h) for h in HOSTS)):
            run("ip", "netns", "add", ns)
            run("ip", "link", "set", "lo", "up", ns=ns)
        tag = os.urandom(3).hex()  # veth names are at most 15 characters
        for host in HOSTS:
            near, far, ns = f"v{tag}{host.suffix}r", f"v{tag}{host.suffix}h", self.ns(host)
            command = ["ip", "link", "add", near, "netns", self.router, "type", "veth"]
            run(*command, "peer", "name", far, "netns", ns)
            run("ip", "addr", "add", f"{host.gateway}/24", "dev", near, ns=self.router)
            run("ip", "link", "set", near, "up", ns=self.router)
            run("ip", "addr", "add", f"{host.address}/24", "dev", far, ns=ns)
            run("ip", "link", "set", far, "up", ns=ns)
            run("ip", "route", "add", "default", "via", host.gateway, ns=ns)
        run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.router)
        self._keys()
        self._command()

    def _keys(self) -> None:
        keygen = apps.tool("ssh-keygen")
        assert keygen is not None
        run(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "fleet-test", "-f", str(self.key))
        (self.home / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        lines = []
        for host in HOSTS:
            key = self.home / f"host_{host.name}"
            run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key))
            lines.append(f"{host.address} {key.with_suffix('.pub').read_text().strip()}\n")
        self.known_hosts.write_text("".join(lines))

    def _command(self) -> None:
        """A ``sepcheck`` that runs this checkout (the venv may hold an older install):
        the hosts share the file system, so one script serves them all."""
        self.bin.mkdir()
        script = self.bin / "sepcheck"
        script.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m sepcheck "$@"\n')
        script.chmod(0o755)

    def start_sshd(self, host: Host) -> None:
        """OpenSSH on port 22 of ``host``, in a UTS namespace named after it; root logs in
        with the fleet's key only. Sessions find this checkout's sepcheck first on PATH."""
        config = self.home / f"sshd_{host.name}"
        path = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), apps.SEARCH_PATH])
        config.write_text(
            f"Port 22\nListenAddress {host.address}\nHostKey {self.home / f'host_{host.name}'}\n"
            f"PidFile {self.home / f'sshd_{host.name}.pid'}\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            f"AuthorizedKeysFile {self.home / 'authorized_keys'}\n"
            # The fleet's folder is a temporary one; sshd's checks of its modes are moot.
            "StrictModes no\nLoginGraceTime 10\nSubsystem sftp internal-sftp\n"
            f"SetEnv PATH={path}\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = apps.tool("sshd")
        assert sshd is not None
        log = self.home / f"sshd_{host.name}.log"
        # unshare --uts: the host's own name (socket.gethostname() in its report).
        command = ["unshare", "--uts", "sh", "-c", 'hostname "$1" && exec "$2" -D -e -f "$3"']
        command += ["sh", host.name, sshd, str(config)]
        process = apps._spawn(self, self.ns(host), command, log)
        apps.wait_listening(self.ns(host), process, 22, log)
        self.sshd[host.name] = process

    def stop_sshd(self, host: Host) -> None:
        """Stop ``host``'s sshd (and its sessions): the host is now unreachable."""
        process = self.sshd.pop(host.name, None)
        if process is None:
            return  # stopped already
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=10)
        self.processes.remove(process)

    def host_firewall(self, host: Host, rules: str) -> None:
        """``host``'s own input filter (nft rules, one per line)."""
        script = (
            "table inet host {\n  chain input_filter {\n"
            "    type filter hook input priority 0; policy accept;\n"
            f"{rules}\n  }}\n}}\n"
        )
        run("nft", "-f", "-", ns=self.ns(host), input=script)

    def teardown(self) -> None:
        super().teardown()  # processes, the router namespace
        for host in HOSTS:
            run("ip", "netns", "del", self.ns(host), check=False)
        shutil.rmtree(self.home, ignore_errors=True)

    # -- the controller ---------------------------------------------------------------

    def ansible_config(self) -> Path:
        """Ansible's settings for the run: the fleet's key and known_hosts, all state in
        the fleet's folder (nothing in ~/.ansible), no lingering SSH master processes."""
        config = self.home / "ansible.cfg"
        ssh_args = (
            f"-o ControlMaster=no -o UserKnownHostsFile={self.known_hosts} "
            "-o StrictHostKeyChecking=yes -o ConnectTimeout=5"
        )
        config.write_text(
            "[defaults]\nremote_user = root\n"
            f"private_key_file = {self.key}\n"
            f"home = {self.home / 'ansible'}\n"
            f"local_tmp = {self.home / 'ansible' / 'tmp'}\n"
            f"remote_tmp = {self.home / 'ansible' / 'remote'}\n"
            f"collections_path = {self.home / 'collections'}\n"
            "timeout = 10\nforks = 5\nnocolor = true\n"
            "[ssh_connection]\n"
            f"ssh_args = {ssh_args}\n"
        )
        return config

    def controller(
        self, tools: Path, *args: str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (an Ansible command from the ``tools`` folder) in the router
        namespace, with the fleet's Ansible settings and this checkout's sepcheck."""
        path = os.pathsep.join([str(tools), str(self.bin), os.environ.get("PATH", "")])
        env = {**os.environ, "PATH": path, "ANSIBLE_CONFIG": str(self.ansible_config())}
        env["ANSIBLE_FORCE_COLOR"] = "0"
        return subprocess.run(
            ["ip", "netns", "exec", self.router, str(tools / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
            env=env,
            check=False,
        )


def inventory(python: str) -> str:
    """The inventory a SEP administrator would write for this site (YAML), shared with
    hosts that are not SEP's (no sepcheck_roles, or []: left out of the audit, never
    contacted: their addresses answer nobody). Every host becomes root with su, as the
    site's inventory says for all; the controller must never become (the user ``all``
    names would be nobody, whose shell refuses a login)."""
    hosts = {h.name: h.address for h in HOSTS}
    become = "ansible_become_user: root"
    return f"""\
all:
  vars:
    sepcheck_site_name: fleet-lab
    sepcheck_sep_version: "14.3 RU8"
    sepcheck_install: existing
    ansible_python_interpreter: {python}
    ansible_become: true
    ansible_become_method: su
    ansible_become_user: nobody
  children:
    sepm_servers:
      vars:
        sepcheck_roles: [manager]
      hosts:
        {MANAGER.name}:
          ansible_host: {hosts[MANAGER.name]}
          {become}
    workstations:
      vars:
        sepcheck_roles: [client]
        sepcheck_os: linux
      hosts:
        {CLIENT.name}:
          ansible_host: {hosts[CLIENT.name]}
          {become}
    gups:
      vars:
        sepcheck_roles: [gup]
      hosts:
        {GUP.name}:
          ansible_host: {hosts[GUP.name]}
          {become}
    printers:
      hosts:
        {NO_ROLES[0]}:
          ansible_host: 198.18.13.2
        {NO_ROLES[1]}:
          ansible_host: 198.18.13.3
          sepcheck_roles: []
"""


def install_ansible(folder: Path) -> Path | str:
    """ansible-core and ansible-lint from PyPI in a venv of their own under ``folder``:
    its bin folder, or why they cannot be installed (a skip reason). The project's venv
    is used instead when it has them (the test extras)."""
    here = Path(sys.executable).parent
    if all((here / name).exists() for name in ("ansible-playbook", "ansible-lint")):
        return here
    venv = folder / "ansible-venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "--disable-pip-version-check", "ansible-core", "ansible-lint"],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            return f"{' '.join(step[:4])} took over 600 s"
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
            return f"cannot install ansible-core and ansible-lint from PyPI: {tail}"
    return venv / "bin"


def run_tool(
    tools: Path, *args: str, cwd: Path, home: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """An Ansible tool from ``tools`` on this machine (no namespace), its caches and
    state under ``home``, not in ~/.ansible or ~/.cache."""
    env = {**os.environ, "HOME": str(home), "ANSIBLE_HOME": str(home / "ansible")}
    env["XDG_CACHE_HOME"] = str(home / "cache")
    env["PATH"] = os.pathsep.join([str(tools), env.get("PATH", "")])
    return subprocess.run(
        [str(tools / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )
