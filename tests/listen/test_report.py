"""The responder's report: the model's fields, the fingerprint but never the token, the
events capped and counted, written atomically over an older file."""

from __future__ import annotations

import json
from pathlib import Path

from sepcheck.listen.events import Event, EventLog, SeenProbe, What
from sepcheck.listen.ports import PortSpec
from sepcheck.listen.report import build_report, load_report, write_report
from sepcheck.listen.session import SessionEnd
from sepcheck.listen.sockets import Bound, Skipped, SkipReason, bind_ports
from sepcheck.model import Protocol
from sepcheck.net.beacon import Endpoint, fingerprint, parse_token

TOKEN = "00112233445566778899aabbccddeeff"


def _report(events: int, cap: int) -> tuple[Bound, EventLog]:
    log = EventLog(cap)
    for i in range(events):
        log.add(
            Event(
                1.0e9 + i, Protocol.UDP, 514, Endpoint("fd00::2", 40000 + i), What.PROBE, 514, True
            )
        )
    log.add(
        Event(
            2.0e9,
            Protocol.TCP,
            8014,
            Endpoint("198.18.1.2", 40112),
            What.QUERY,
            514,
            True,
            SeenProbe(Endpoint("198.18.9.9", 5000), 514),
        )
    )
    log.ignore(Protocol.UDP, 514)
    log.ignore(Protocol.UDP, 514)
    skipped = Skipped(Protocol.TCP, 8443, SkipReason.IN_USE, "8443 in use by another process")
    bound = bind_ports([PortSpec(Protocol.TCP, 0)], ("127.0.0.1",))
    bound.close()
    return Bound(bound.listening, (skipped,)), log


def test_the_report_keeps_the_fingerprint_and_caps_the_events(tmp_path: Path) -> None:
    bound, log = _report(events=30, cap=20)
    key = parse_token(TOKEN)
    report = build_report(
        hostname="sepm01",
        fingerprint=fingerprint(key),
        duration=1800.0,
        bound=bound,
        log=log,
        end=SessionEnd(1.0e9, 1.0e9 + 60, "Ctrl-C"),
    )
    path = tmp_path / "listen.json"
    path.write_text("an older report", encoding="utf-8")
    write_report(path, report)
    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text
    assert key.hex() not in text
    data = json.loads(text)
    assert data["kind"] == "sepcheck-listen"
    assert data["fingerprint"] == fingerprint(key)
    assert (data["complete"], data["stopped_by"]) == (False, "Ctrl-C")
    assert len(data["events"]) == 20
    assert data["events_left_out"] == 11
    assert data["counts"] == {"probe": 30, "query": 1}
    assert data["ignored"] == [{"protocol": "udp", "port": 514, "count": 2}]
    assert data["skipped"][0]["reason"] == "in_use"
    assert data["listening"][0]["families"] == ["ipv4"]
    assert data["started"] == "2001-09-09T01:46:40.000Z"
    assert load_report(path) == report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["listen.json"]  # no temp left
