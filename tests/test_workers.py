"""Worker processes (workers.py) as the parent sees them: their progress, when it is
shown."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sepcheck.backends import choose
from sepcheck.catalogue import load_catalogue
from sepcheck.engine import EngineSettings
from sepcheck.model import Role
from sepcheck.plan import Plan, Vantage, build_plan
from sepcheck.report.model import TopologyRef, VantageInfo
from sepcheck.results import Stage
from sepcheck.run import CheckRun, run_check
from sepcheck.topology import load_topology
from sepcheck.workers import WORKER_SHARE

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers fork (Linux)")


CATALOGUE = """schema = 1
[[entry]]
id = "manager-client-tcp9"
row = 0
protocol = "tcp"
port = 9
source = "manager"
destination = "client"
purpose = "a closed port on loopback"
configurable = true
versions = "all"
"""


def _plan(write: Callable[[str, str], Path]) -> Plan:
    """3,070 loopback clients on a closed port (refused at once): two workers' worth."""
    site = write(
        "site.toml",
        'sep_version = "14.3 RU8"\n[roles.client]\nhosts = ["127.0.0.1-127.0.11.254"]\n',
    )
    catalogue = load_catalogue(write("catalogue.toml", CATALOGUE))
    plan = build_plan(catalogue, load_topology(site, catalogue), Vantage((Role.MANAGER,)))
    assert plan.total > 2 * WORKER_SHARE  # two workers, each with several steps
    return plan


def _run(plan: Plan, on_progress: Callable[[int], None] | None) -> CheckRun:
    run = run_check(
        plan=plan,
        backend=choose(False),
        datagram=lambda _port: b"",
        settings=EngineSettings(rate=0),
        stage=Stage.OPERATIONAL,
        vantage=VantageInfo(hostname="h", role=["manager"], inferred=False, local_addresses=[]),
        topology=TopologyRef(path=None, sha256="0"),
        catalogue="shipped",
        workers=2,
        on_progress=on_progress,
    )
    run.collector.close()
    assert not run.interrupted
    assert run.head.summary.probes == plan.total
    return run


def test_workers_tell_a_parent_that_shows_progress_how_far_they_are(
    write: Callable[[str, str], Path],
) -> None:
    """The progress a parent hears adds up to the plan, in several steps from each
    worker, not one total at the end."""
    plan = _plan(write)
    heard: list[int] = []
    _run(plan, heard.append)
    assert sum(heard) == plan.total
    assert len(heard) >= 4


def test_workers_send_no_progress_to_a_parent_that_shows_none(
    write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-progress, or no terminal: the workers send their results and nothing else
    (a message every 256 probes was a pipe write and a pickle nobody read)."""
    import multiprocessing.connection

    plan = _plan(write)
    kinds: list[str] = []
    receive = multiprocessing.connection.Connection.recv

    def recv(self: multiprocessing.connection.Connection) -> object:
        message = receive(self)
        kinds.append(message[0])
        return message

    monkeypatch.setattr(multiprocessing.connection.Connection, "recv", recv)
    _run(plan, None)
    assert kinds == ["done", "done"]
