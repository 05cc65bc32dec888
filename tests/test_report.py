"""The JSON report contract, the collector, the atomic writer and the matrix."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from sepcheck.catalogue import Catalogue
from sepcheck.model import Role
from sepcheck.plan import Vantage, build_plan
from sepcheck.render.matrix import matrix_table, summary_line
from sepcheck.report.collect import Collector
from sepcheck.report.model import Parameters, ReportHead, TopologyRef, VantageInfo
from sepcheck.report.writer import report_chunks, write_atomic
from sepcheck.results import ProbeResult, Stage, State
from sepcheck.topology import topology_from_hosts

RESULT_KEYS = {
    "flow",
    "source",
    "destination",
    "host",
    "address",
    "protocol",
    "port",
    "expect",
    "state",
    "reason",
    "reply_from",
    "rtt_ms",
    "attempts",
    "verdict",
}
TOP_KEYS = {
    "schema_version",
    "tool_version",
    "started_at",
    "finished_at",
    "vantage",
    "topology",
    "parameters",
    "complete",
    "results",
    "summary",
    "verdict",
}


def make_head(
    catalogue: Catalogue, tmp_path: Path, complete: bool = True
) -> tuple[ReportHead, Collector]:
    topology = topology_from_hosts(
        {Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.0/26"]},
        catalogue,
        features=["windows_push"],
    )
    plan = build_plan(catalogue, topology, Vantage((Role.MANAGER,)))
    collector = Collector(plan, Stage.OPERATIONAL, tmp_path)
    for i, probe in enumerate(plan.probes()):
        state = State.OPEN if i % 3 else State.FILTERED
        collector.add(
            ProbeResult(
                probe,
                probe.address,
                state,
                "syn-ack" if i % 3 else "no-response",
                None,
                0.5 if i % 3 else None,
                1,
                "syn-ack" if i % 3 else "no-response after 2 tries",
            )
        )
    head = collector.finish(
        complete=complete,
        duration=1.5,
        tool_version="0.0.test",
        vantage=VantageInfo(
            hostname="h", role=["manager"], inferred=False, local_addresses=["198.18.2.2"]
        ),
        topology=TopologyRef(path=None, sha256=topology.digest),
        parameters=run_parameters(),
    )
    return head, collector


def run_parameters(stage: str = "operational") -> Parameters:
    """The run parameters of a report made by a test (the values do not matter)."""
    return Parameters(
        stage=stage,
        concurrency=1,
        per_host=1,
        rate=0,
        timeout=1,
        initial_timeout=1,
        min_timeout=0.1,
        retries=1,
        max_retries=6,
        family="any",
        catalogue="built-in",
    )


def test_report_json_contract(catalogue: Catalogue, tmp_path: Path) -> None:
    head, collector = make_head(catalogue, tmp_path)
    out = tmp_path / "report.json"
    write_atomic(out, report_chunks(head, collector.spools))
    collector.close()
    report = json.loads(out.read_text())
    assert set(report) >= TOP_KEYS
    assert report["schema_version"] == 1
    assert report["verdict"] == "fail"
    assert report["complete"] is True
    assert report["started_at"].endswith("Z")
    assert set(report["vantage"]) >= {"hostname", "role", "local_addresses"}
    assert set(report["topology"]) >= {"path", "sha256"}
    assert len(report["results"]) == report["summary"]["probes"] == collector.count
    for item in report["results"]:
        assert set(item) >= RESULT_KEYS
    assert {r["state"] for r in report["results"]} == {"open", "filtered"}
    assert not collector.spool_path.exists()


def test_atomic_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text('{"old": true}')

    def broken() -> Iterator[str]:
        yield '{"new": '
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(out, broken())
    assert json.loads(out.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="Linux O_TMPFILE")
def test_a_report_has_no_name_until_it_is_complete(tmp_path: Path) -> None:
    """Even a SIGKILL mid-write could leave nothing behind: while the report is being
    written, no file of it exists under any name."""
    out = tmp_path / "reports" / "report.json"
    out.parent.mkdir()
    seen: list[list[str]] = []

    def chunks() -> Iterator[str]:
        yield '{"a": '
        seen.append(sorted(p.name for p in out.parent.iterdir()))
        yield "1}"

    write_atomic(out, chunks())
    assert seen == [[]]
    assert json.loads(out.read_text()) == {"a": 1}
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.json"]
    assert out.stat().st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_matrix_names_failing_hosts_and_the_rest(catalogue: Catalogue, tmp_path: Path) -> None:
    head, collector = make_head(catalogue, tmp_path, complete=False)
    collector.close()
    console = Console(width=160, record=True)
    console.print(matrix_table(head, width=160))
    text = console.export_text()
    assert "manager-client-push-smb" in text
    assert "FAIL" in text
    assert "filtered (no-response after 2 tries): 198.18.16." in text
    # 62 hosts per flow, about one in three filtered: 10 named, the rest counted.
    assert re.search(r"and\s+1[01]\s+more", text)
    line = summary_line(head)
    assert line.startswith("FAIL (INTERRUPTED): ")
    assert "INTERRUPTED after 251 of 251 probes" in " ".join(text.split())  # the matrix too
    assert "INTERRUPTED after" in line
    narrow = Console(width=80, record=True)
    narrow.print(matrix_table(head, width=80))
    assert "purpose" not in narrow.export_text()


def test_fast_result_record_equals_the_model(catalogue: Catalogue) -> None:
    from sepcheck.report.model import ResultItem, result_record
    from sepcheck.results import Verdict

    topology = topology_from_hosts({Role.MANAGER: ["198.18.2.2"]}, catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    probe = next(plan.probes())
    for result in (
        ProbeResult(probe, "198.18.2.2", State.OPEN, "syn-ack", "198.18.2.2", 0.25, 1, "syn-ack"),
        ProbeResult(probe, None, State.UNRESOLVED, "unresolved", None, None, 0, "no name"),
    ):
        for verdict, note in ((Verdict.PASS, ""), (Verdict.WARN, "path open")):
            fast = result_record(result, verdict, note)
            model = ResultItem.of(result, verdict, note).model_dump(mode="json")
            assert fast == model
            assert list(fast) == list(model)  # same key order in the file


_text = st.text(st.characters(codec="utf-8"), max_size=12)


@given(
    host=_text,
    address=st.none() | _text,
    reason=_text,
    detail=_text,
    reply_from=st.none() | _text,
    rtt=st.none() | st.floats(0, 1e6, allow_nan=False) | st.integers(0, 10**6),
    attempts=st.integers(0, 99),
    ttl=st.none() | st.integers(0, 255),
    note=_text,
    state=st.sampled_from(list(State)),
    verdict=st.sampled_from(["pass", "warn", "fail"]),
    app=st.booleans(),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_spool_lines_are_what_json_writes_for_the_record(
    catalogue: Catalogue,
    host: str,
    address: str | None,
    reason: str,
    detail: str,
    reply_from: str | None,
    rtt: float | None,
    attempts: int,
    ttl: int | None,
    note: str,
    state: State,
    verdict: str,
    app: bool,
) -> None:
    """The spool's fast lines, byte for byte what json writes for ``result_record``: quotes,
    backslashes, control characters and any Unicode in every text, numbers of both kinds,
    every None, a finding or none."""
    from dataclasses import replace

    from sepcheck.appcheck.finding import AppFinding
    from sepcheck.report.model import result_record
    from sepcheck.report.spool import LineWriter
    from sepcheck.results import Verdict

    topology = topology_from_hosts({Role.MANAGER: ["198.18.2.2"]}, catalogue)
    plan = build_plan(catalogue, topology, Vantage((Role.CLIENT,)))
    writer = LineWriter()
    for probe in list(plan.probes())[:3]:
        result = ProbeResult(
            replace(probe, host=host),
            address,
            state,
            reason,
            reply_from,
            rtt,
            attempts,
            detail,
            ttl,
            AppFinding("secars", "SEPM", True, detail, {"status": 200}) if app else None,
        )
        expected = json.dumps(
            result_record(result, Verdict(verdict), note), separators=(",", ":"), ensure_ascii=False
        )
        assert writer.line(result, Verdict(verdict), note) == expected + "\n"
