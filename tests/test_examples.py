"""The scheduled-audit examples and the Dockerfile, checked as far as this machine can:
systemd's own verifier, the cron line's fields, the Kubernetes manifests' structure, and,
for all of them, the sepcheck command line they hold, parsed by sepcheck's own parser
(options, values and SEPCHECK_* variables)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from sepcheck.catalogue import load_catalogue
from sepcheck.cli import app
from sepcheck.topology import load_topology

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CHECK = typer.main.get_command(app).commands["check"]  # type: ignore[attr-defined]
ENVVARS = {p.envvar for p in CHECK.params if isinstance(p.envvar, str)}


def parse_check(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """What `sepcheck check ARGS` would run with, under ``env``; fails on anything the
    real command line would refuse."""
    assert args[0] == "check", args
    for name in [n for n in ENVVARS]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.startswith("SEPCHECK_"):
            assert name in ENVVARS, f"{name} is not a variable sepcheck reads"
        monkeypatch.setenv(name, value)
    with CHECK.make_context("check", list(args[1:])) as ctx:
        return ctx.params


def test_envvars_are_the_documented_ones() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ENVVARS:
        assert name in readme, f"{name} is not in the README"
    assert {"SEPCHECK_TOPOLOGY", "SEPCHECK_OUTPUT_DIR", "SEPCHECK_KEEP"} <= ENVVARS


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_units_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = Path(sys.executable).parent / "sepcheck"
    if not binary.exists():
        pytest.skip("the sepcheck command is not installed beside this interpreter")
    units = []
    for unit in ("sepcheck-audit.service", "sepcheck-audit.timer"):
        text = (EXAMPLES / "systemd" / unit).read_text()
        # systemd checks that ExecStart's program exists: point it at this install.
        (tmp_path / unit).write_text(text.replace("/usr/local/bin/sepcheck", str(binary)))
        units.append(str(tmp_path / unit))
    done = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # unknown keys are only warnings: none is allowed
    service = (EXAMPLES / "systemd" / "sepcheck-audit.service").read_text()
    env = dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in service.splitlines()
        if line.startswith("Environment=")
    )
    (command,) = (line for line in service.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(command.removeprefix("ExecStart="))
    assert argv[0] == "/usr/local/bin/sepcheck"
    params = parse_check(argv[1:], env, monkeypatch)
    assert params["output_dir"] == Path("/var/lib/sepcheck/reports")
    assert params["keep"] == 30
    assert params["quiet"] is True
    assert str(params["baseline"]) == "previous"
    # The folders it writes are the ones systemd creates for it.
    state = next(line for line in service.splitlines() if line.startswith("StateDirectory="))
    made = {f"/var/lib/{d}" for d in state.removeprefix("StateDirectory=").split()}
    assert str(params["output_dir"]) in made
    assert str(params["outputs"][0].parent) in made


CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\d+(-\d+)?))*$")
CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def test_cron_line(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    jobs = []
    for line in (EXAMPLES / "cron" / "sepcheck").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            env[name] = value
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"cron.d lines have 5 time fields, a user and a command: {line}"
        for field, (low, high) in zip(fields[:5], CRON_RANGES, strict=True):
            assert CRON_FIELD.match(field), field
            for number in map(int, re.findall(r"\d+", field.split("/")[0])):
                assert low <= number <= high, field
        assert "%" not in fields[6], "cron turns % into a newline"
        jobs.append(fields)
    (job,) = jobs
    assert job[5] == "sepcheck"  # a user of its own, not root
    argv = shlex.split(job[6])
    assert argv[0] == "/usr/local/bin/sepcheck"
    params = parse_check(argv[1:], env, monkeypatch)
    assert params["output_dir"] == Path("/var/lib/sepcheck/reports")
    assert params["lock_wait"] == 600
    assert params["fail_on"].value == "regression"


def test_kubernetes_cronjob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = list(yaml.safe_load_all((EXAMPLES / "kubernetes" / "sepcheck-cronjob.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "PersistentVolumeClaim", "CronJob"}
    cronjob = by_kind["CronJob"]
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert len(spec["schedule"].split()) == 5
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts.values()) <= set(volumes), "a mount names no volume"
    # A read-only root: the spool (TMPDIR) needs a writable /tmp.
    assert "emptyDir" in volumes[mounts["/tmp"]]
    env = {e["name"]: e["value"] for e in container["env"]}
    params = parse_check(container["args"], env, monkeypatch)
    # Every path it reads or writes is on a volume, and the topology is the ConfigMap's.
    assert str(params["output_dir"]) in mounts
    assert "persistentVolumeClaim" in volumes[mounts[str(params["output_dir"])]]
    assert str(params["outputs"][0].parent) in mounts
    topology = params["topology_path"]
    assert (
        volumes[mounts[str(topology.parent)]]["configMap"]["name"]
        == (by_kind["ConfigMap"]["metadata"]["name"])
    )
    assert (
        by_kind["PersistentVolumeClaim"]["metadata"]["name"]
        == (volumes[mounts["/reports"]]["persistentVolumeClaim"]["claimName"])
    )
    site = tmp_path / topology.name
    site.write_text(by_kind["ConfigMap"]["data"][topology.name])
    assert load_topology(site, load_catalogue()).roles  # the topology loads, with hosts
    assert params["report_tag"]  # a pod's host name changes every run


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\} AS build", text, re.M)
    assert re.search(r"^USER 10001", text, re.M)
    assert 'ENTRYPOINT ["sepcheck"]' in text
    assert "id=pip_cert,required=false" in text
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
