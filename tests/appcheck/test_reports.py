"""The application checks in the reports: the Prometheus families and the JUnit failure."""

from __future__ import annotations

from datetime import UTC, datetime

from sepcheck.model import Expect, Protocol, Severity
from sepcheck.render.junit import _probe_case
from sepcheck.render.prometheus import _app_families, _series_key
from sepcheck.render.unique import UniqueResults
from sepcheck.report.rows import AppRow, ResultRow
from sepcheck.results import State, Verdict

EXPIRY = "2026-12-11T13:12:49Z"


def row(app: AppRow | None, verdict: Verdict = Verdict.PASS, note: str = "") -> ResultRow:
    return ResultRow(
        "client-manager-https", "client", "manager", "sepm", "198.18.2.2", Protocol.TCP, 443,
        Expect.REACHABLE, State.OPEN, "syn-ack", "connected", None, 1.0, 1, verdict, note,
        None, Severity.FAIL, None, app,
    )  # fmt: skip


def app(ok: bool | None, tls: bool = True) -> AppRow:
    facts: dict[str, object] | None = {"not_after": EXPIRY, "subject": "CN=sepm"} if tls else None
    return AppRow("secars-hello-https", "SEPM", ok, "d", {}, facts)


def metrics(*rows: ResultRow) -> list[str]:
    text = "".join(_app_families(UniqueResults(list(rows), _series_key)))
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_the_app_check_is_a_state_set_and_the_expiry_a_unix_time() -> None:
    lines = metrics(row(app(False)))
    outcomes = {line.split('outcome="')[1].split('"')[0]: line[-1] for line in lines[:3]}
    assert outcomes == {"ok": "0", "wrong": "1", "unknown": "0"}
    expiry = datetime.fromisoformat(EXPIRY.replace("Z", "+00:00")).replace(tzinfo=UTC)
    (last,) = [line for line in lines if line.startswith("sepcheck_tls_cert_expiry_seconds")]
    assert last.endswith(f" {expiry.timestamp():.0f}")
    assert 'check="secars-hello-https"' in last


def test_no_series_without_a_check_or_without_tls() -> None:
    assert metrics(row(None)) == []
    lines = metrics(row(app(None, tls=False)))
    assert len(lines) == 3
    assert lines[2].endswith(" 1")  # unknown
    assert not any("expiry" in line for line in lines)


def test_a_junit_failure_says_what_the_check_found() -> None:
    case = _probe_case(
        row(app(False), Verdict.FAIL, "open but not SEPM: HTTP 404 from nginx/1.22.1")
    )
    assert "open (connected) at 198.18.2.2: open but not SEPM: HTTP 404 from nginx/1.22.1" in case
