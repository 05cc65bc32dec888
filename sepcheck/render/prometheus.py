"""The Prometheus text exposition (format 0.0.4), for node_exporter's textfile collector.

It never says the run passed when it was interrupted or probed nothing
(``sepcheck_run_pass`` is 0 then): an alert rule sees only what this file says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sepcheck.render.matrix import headline
from sepcheck.render.unique import UniqueResults
from sepcheck.report.model import ReportHead
from sepcheck.report.rows import ResultRow
from sepcheck.results import State, Verdict


def _label(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, object]) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items()) + "}"


SERIES_LABELS = ("flow", "source", "destination", "host", "address", "protocol", "port")
"""What identifies a probe's series. Nothing measured is a label (state, verdict): a label
that changes with the outcome starts a new series, and breaks every graph and alert."""


def _series_key(r: ResultRow) -> tuple[str | int, ...]:
    """The values of SERIES_LABELS, in their order."""
    return (r.flow, r.source, r.destination, r.host, r.address or "", r.protocol.value, r.port)


def _probe_labels(r: ResultRow, **extra: str) -> str:
    pairs: dict[str, object] = dict(zip(SERIES_LABELS, _series_key(r), strict=True))
    pairs.update(extra)
    return _labels(pairs)


def _gauge(name: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"


PROMETHEUS_METRICS = (
    "sepcheck_flow_up",
    "sepcheck_probe_warning",
    "sepcheck_probe_state",
    "sepcheck_probe_rtt_seconds",
    "sepcheck_app_check",
    "sepcheck_tls_cert_expiry_seconds",
    "sepcheck_probes",
    "sepcheck_flows",
    "sepcheck_run_timestamp_seconds",
    "sepcheck_run_duration_seconds",
    "sepcheck_run_complete",
    "sepcheck_run_pass",
)


def _probe_families(unique: UniqueResults) -> Iterator[str]:
    """The families of one series per probe identity, one pass over the results each."""
    yield _gauge(
        "sepcheck_flow_up", "1 when the probe met its expectation (pass or warn), 0 when it failed."
    )
    for r in unique:
        yield f"sepcheck_flow_up{_probe_labels(r)} {0 if r.verdict is Verdict.FAIL else 1}\n"
    yield _gauge(
        "sepcheck_probe_warning",
        "1 when the probe met its expectation with a warning (the report's note says why).",
    )
    for r in unique:
        yield f"sepcheck_probe_warning{_probe_labels(r)} {int(r.verdict is Verdict.WARN)}\n"
    yield _gauge(
        "sepcheck_probe_state",
        "What the probe found: 1 for the state measured, 0 for the other states "
        "(open, refused, filtered, open|filtered, unresolved).",
    )
    for r in unique:
        for state in State:
            found = int(r.state is state)
            yield f"sepcheck_probe_state{_probe_labels(r, state=state.value)} {found}\n"
    yield _gauge("sepcheck_probe_rtt_seconds", "Round-trip time of the answer, when one came.")
    for r in unique:
        if r.rtt_ms is not None:
            yield f"sepcheck_probe_rtt_seconds{_probe_labels(r)} {r.rtt_ms / 1000:.6f}\n"
    yield from _app_families(unique)


_APP_OUTCOMES = {"ok": True, "wrong": False, "unknown": None}


def _app_families(unique: UniqueResults) -> Iterator[str]:
    """The application checks: a state set per check (as sepcheck_probe_state), and the
    server certificate's expiry as Unix time (as blackbox_exporter's
    probe_ssl_earliest_cert_expiry), to alert on ``... - time() < 30 * 86400``."""
    yield _gauge(
        "sepcheck_app_check",
        "The application check after an open port: 1 for its outcome, 0 for the others (ok: "
        "the service answered; wrong: another service holds the port; unknown: could not tell).",
    )
    for r in unique:
        if r.app is not None:
            for outcome, ok in _APP_OUTCOMES.items():
                labels = _probe_labels(r, check=r.app.check, outcome=outcome)
                yield f"sepcheck_app_check{labels} {int(r.app.ok is ok)}\n"
    yield _gauge(
        "sepcheck_tls_cert_expiry_seconds",
        "When the server's TLS certificate expires (Unix time), where a check read it.",
    )
    for r in unique:
        expiry = r.app.cert_expiry if r.app is not None else None
        if expiry is not None:
            assert r.app is not None
            labels = _probe_labels(r, check=r.app.check)
            yield f"sepcheck_tls_cert_expiry_seconds{labels} {expiry:.0f}\n"


def _run_families(head: ReportHead) -> Iterator[str]:
    """The families of the run as a whole: counts, times, completeness and outcome."""
    yield _gauge("sepcheck_probes", "Probes of the last run, by state (every state, 0 or more).")
    for state in State:
        count = head.summary.states.get(state.value, 0)
        yield f"sepcheck_probes{_labels({'state': state.value})} {count}\n"
    yield _gauge("sepcheck_flows", "Flows of the last run, by verdict.")
    for verdict in Verdict:
        count = head.summary.flows.get(verdict.value, 0)
        yield f"sepcheck_flows{_labels({'verdict': verdict.value})} {count}\n"
    started = datetime.fromisoformat(head.started_at.replace("Z", "+00:00")).timestamp()
    passed = headline(head) == "PASS"
    for name, help_text, value in (
        ("sepcheck_run_timestamp_seconds", "When the last run started (Unix time).", started),
        ("sepcheck_run_duration_seconds", "How long the last run took.", head.summary.duration_s),
        ("sepcheck_run_complete", "1 when the last run was not interrupted.", int(head.complete)),
        (
            "sepcheck_run_pass",
            "1 when the last run passed: complete, something probed, nothing failed.",
            int(passed),
        ),
    ):
        yield f"{_gauge(name, help_text)}{name} {value}\n"


def prometheus_chunks(head: ReportHead, rows: Iterable[ResultRow]) -> Iterator[str]:
    """Text exposition format 0.0.4, one family at a time (the format requires it).

    Every probe series is identified by SERIES_LABELS alone and exists once (a host listed
    twice gives one series, its worst result); its state is a state set, one series per
    possible state with 1 for the one measured, so the series stay the same run after run
    and their number is bounded (five per probe). ``rows`` is read several times."""
    yield from _probe_families(UniqueResults(rows, _series_key))
    yield from _run_families(head)
