"""Verdicts: what a probe's state means for its flow, given the expectation and stage.

| expect      | open | refused                          | filtered | open\\|filtered | unresolved |
|-------------|------|----------------------------------|----------|----------------|------------|
| reachable   | pass | fail (warn in pre-install stage) | fail     | warn           | fail       |
| unreachable | fail | pass                             | pass     | pass           | warn       |

A "refused" whose reset or port-unreachable was forged by a device on the path (raw mode,
reasons in FORGED_REASONS) is judged as filtered: a firewall said no, not the host.

A reachable UDP flow that stays silent is only a warning: most UDP services (syslog) never
answer, so silence cannot tell open from filtered. A must-not-reach flow that is refused
passes: the host answered, but nothing is exposed. Entries with severity "warn" (consoles
reachable from clients) turn a failure into a warning. A flow's verdict is its worst result.

An application check (an open TCP port's second look, ``sepcheck/appcheck``) refines an
open result: another service on the port fails a flow that needs the service ("open but
not SEPM"), a check that cannot tell only adds a note, and a server certificate that
expires within ``cert_warn_days`` warns (an expired one fails: clients stop talking to a
manager whose certificate is invalid, Broadcom KB 187099).

Flows of a group of alternatives (client to manager over HTTP 8014 or HTTPS 443) are judged
per host together: when one member passes for a host, the others pass too for that host,
with a note naming the member that works.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sepcheck.model import Expect, Severity
from sepcheck.net.outcome import FORGED_REASONS
from sepcheck.results import ProbeResult, Stage, State, Verdict

if TYPE_CHECKING:
    from sepcheck.appcheck.finding import AppFinding

NOT_SERVICE = "open but not "
"""How the note of an open port held by another service starts: 'open but not SEPM: ...'."""

CERT_WARN_DAYS = 30
"""A server certificate expiring within this many days is a warning (--cert-warn-days)."""

FAILING_HOSTS_SHOWN = 10
"""How many failing hosts a flow row names before 'and N more'."""


def judge(
    result: ProbeResult, stage: Stage, verify: str = "", cert_warn_days: float = CERT_WARN_DAYS
) -> tuple[Verdict, str]:
    """The verdict for one result, with a short note when the state needs explaining;
    ``verify`` (the entry's) says what to check when a failure is only a warning."""
    state = result.state
    forged = state is State.REFUSED and result.reason in FORGED_REASONS
    verdict, note = _base(result.probe.expect, State.FILTERED if forged else state, stage)
    if forged and verdict is not Verdict.PASS:
        note = "blocked by a firewall on the path (forged reply)"
    if result.app is not None and state is State.OPEN:
        verdict, note = _app(result.app, result.probe.expect, verdict, note, cert_warn_days)
        if stage is Stage.PRE_INSTALL and note.startswith(NOT_SERVICE):
            # Before installation a test listener or the server's own web server may hold
            # the port: worth a look, not yet a broken site.
            verdict = Verdict.WARN
    if verdict is Verdict.FAIL and result.probe.severity is Severity.WARN:
        note = note or "worth a look (severity warn)"
        return Verdict.WARN, f"{note}: {verify}" if verify else note
    return verdict, note


def _app(
    app: AppFinding, expect: Expect, verdict: Verdict, note: str, warn_days: float
) -> tuple[Verdict, str]:
    """An open result, refined by what its application check found."""
    if expect is Expect.UNREACHABLE:
        # Already a failure (or a warning to verify); what answers is the result's
        # ``app``, shown beside its state.
        return verdict, note
    if app.check == RESPONDER_CHECK:
        return _responder(app, verdict, note)
    if app.ok is False:
        return Verdict.FAIL, f"{NOT_SERVICE}{app.service}: {app.detail}"
    if app.ok is None:
        # The finding's detail is shown beside the state; the note says what it means.
        return verdict, f"{app.service} not confirmed"
    if app.tls is not None:
        days = app.tls.seconds_left(datetime.now(UTC)) / 86400
        if days < 0:
            return Verdict.FAIL, f"TLS certificate expired {_days(-days)} ago"
        if days <= warn_days:
            return Verdict.WARN, f"TLS certificate expires in {_days(days)}"
    return verdict, note


RESPONDER_CHECK = "sepcheck-responder"
"""The finding of a sepcheck responder (``appcheck/responder.py``)."""


def _responder(app: AppFinding, verdict: Verdict, note: str) -> tuple[Verdict, str]:
    """An open result as the responder confirmed it: answered passes (NAT is said, not
    judged: many sites translate between client subnets and the manager); a one-way UDP
    path warns (the datagrams arrive, which is what syslog and NetBIOS datagrams need, but
    nothing comes back); a handshake the responder never received fails (a device on the
    path answers for the host); a check that cannot tell is a note."""
    if app.ok is True:
        return verdict, note
    if app.ok is None:
        return verdict, "not confirmed by a responder"
    if app.read.get("one_way"):
        return Verdict.WARN, app.detail
    return Verdict.FAIL, app.detail


def _days(days: float) -> str:
    # Rounded as the JSON report's expires_in_days is (12.0 there is "12 days" here).
    whole = round(days)
    return "less than a day" if whole == 0 else f"{whole} day{'s' if whole != 1 else ''}"


def _base(expect: Expect, state: State, stage: Stage) -> tuple[Verdict, str]:
    if expect is Expect.REACHABLE:
        if state is State.OPEN:
            return Verdict.PASS, ""
        if state is State.REFUSED and stage is Stage.PRE_INSTALL:
            return Verdict.WARN, "path open, nothing listening"
        if state is State.OPEN_FILTERED:
            return Verdict.WARN, "no reply: open or filtered (UDP services may stay silent)"
        return Verdict.FAIL, ""
    if state is State.OPEN:
        return Verdict.FAIL, "reachable, must not be"
    if state is State.UNRESOLVED:
        return Verdict.WARN, "not checked: name does not resolve"
    return Verdict.PASS, ""


@dataclass(frozen=True)
class Judged:
    result: ProbeResult
    verdict: Verdict
    note: str
    carried: bool = False
    """Passes only because an alternative works for the same host."""


def judge_alternatives(
    results: Sequence[ProbeResult],
    stage: Stage,
    complete: bool,
    cert_warn_days: float = CERT_WARN_DAYS,
) -> list[Judged]:
    """Judge the results of one host's alternatives (members of one group), in order: the
    best member decides for all (a pass, or before installation a path proven open), and
    the others say which member they give way to. ``complete`` is False when some members
    were never measured (an interrupted run)."""
    judged = [(r, *judge(r, stage, cert_warn_days=cert_warn_days)) for r in results]
    best_result, best, best_note = min(judged, key=lambda item: item[1].rank)
    out: list[Judged] = []
    for result, verdict, note in judged:
        if verdict.rank > best.rank and not _found_by_app(result, verdict):
            probe = best_result.probe
            alternative = f"{probe.flow} ({probe.protocol}/{probe.port})"
            if best is Verdict.PASS:
                note = f"not needed: {alternative} works, and one of the alternatives is enough"
            else:
                note = f"not needed: {alternative} is the better alternative ({best_note})"
            out.append(Judged(result, best, note, carried=True))
            continue
        if best is Verdict.FAIL:
            tail = (
                "no alternative works either"
                if complete
                else "its alternatives were not measured (run interrupted)"
            )
            note = f"{note}; {tail}" if note else tail
        out.append(Judged(result, verdict, note))
    return out


def _found_by_app(result: ProbeResult, verdict: Verdict) -> bool:
    """A member whose own port answers, and whose application check found something wrong
    (another service, a certificate about to expire): another member working does not make
    that right, so its verdict is its own."""
    return result.state is State.OPEN and result.app is not None and verdict is not Verdict.PASS


@dataclass
class FlowSummary:
    """What the matrix shows for one flow: counts, worst verdict, some failing hosts."""

    flow: str
    verdict: Verdict = Verdict.PASS
    states: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    total: int = 0
    examples: list[tuple[ProbeResult, Verdict, str]] = field(default_factory=list)
    """Up to FAILING_HOSTS_SHOWN results of the worst verdict seen (for the matrix)."""
    worst_count: int = 0
    carried: Counter[str] = field(default_factory=Counter)
    """Results, by verdict, that have it only because an alternative earned it for their
    host."""
    app: Counter[str] = field(default_factory=Counter)
    """Application checks by outcome: ok, wrong, unknown."""

    def add(self, result: ProbeResult, verdict: Verdict, note: str, carried: bool = False) -> None:
        if result.app is not None:
            ok = result.app.ok
            self.app["unknown" if ok is None else "ok" if ok else "wrong"] += 1
        if carried:
            self.carried[verdict.value] += 1
        self.total += 1
        self.states[result.state.value] += 1
        self.verdicts[verdict.value] += 1
        if verdict.rank > self.verdict.rank:
            self.verdict = verdict
            self.examples.clear()
            self.worst_count = 0
        if verdict is self.verdict:
            self.worst_count += 1
            if len(self.examples) < FAILING_HOSTS_SHOWN:
                self.examples.append((result, verdict, note))

    def merge(self, other: FlowSummary) -> None:
        """Fold in the summary of the same flow measured by another worker."""
        self.total += other.total
        self.carried.update(other.carried)
        self.app.update(other.app)
        self.states.update(other.states)
        self.verdicts.update(other.verdicts)
        if other.verdict.rank > self.verdict.rank:
            self.verdict = other.verdict
            self.examples = list(other.examples)
            self.worst_count = other.worst_count
        elif other.verdict is self.verdict:
            room = FAILING_HOSTS_SHOWN - len(self.examples)
            self.examples.extend(other.examples[:room])
            self.worst_count += other.worst_count
