"""One flow's result in words, for the formats that print it as text (Markdown, HTML)."""

from __future__ import annotations

from sepcheck.model import Expect
from sepcheck.report.model import FailingHost, FlowResult
from sepcheck.results import Verdict
from sepcheck.verdict import NOT_SERVICE


def host_state(host: FailingHost) -> tuple[str, str]:
    """One host's result and its note: ('open, SEPM 14.3.9816.7000 (secars OK)', '') when an
    application check read what answers ('open, not SEPM: HTTP 404 from nginx' when it
    was something else), else the state and its reason: ('filtered (no-response)', ...)."""
    if host.app:
        if host.note.startswith(NOT_SERVICE):
            return f"{host.state.value}, {host.note.removeprefix('open but ')}", ""
        # A note that only repeats the finding (a responder's) is said once.
        return f"{host.state.value}, {host.app}", "" if host.note == host.app else host.note
    return f"{host.state.value} ({host.detail})", host.note


def host_label(host: FailingHost) -> str:
    state, note = host_state(host)
    return f"{state}, {note}" if note else state


def app_counts(flow: FlowResult) -> str:
    """The application checks of a flow of several hosts: '5 SEPM confirmed, 1 not'."""
    if not flow.app:
        return ""
    words = {"ok": "confirmed", "wrong": "another service", "unknown": "could not tell"}
    parts = [f"{flow.app[key]:,} {word}" for key, word in words.items() if flow.app.get(key)]
    return "application check: " + ", ".join(parts)


def flow_result_text(flow: FlowResult, *, detailed: bool) -> str:
    """One flow's result in words: the state of its single probe, or counts per state and
    the hosts of a non-passing verdict, grouped by what explains them (their note, such as
    "path open, nothing listening"; with ``detailed``, their state and reason too)."""
    if flow.probes == 1 and flow.worst:
        only = flow.worst[0]
        state, note = host_state(only)
        result = state + (f": {note}" if note else "")
    else:
        result = ", ".join(f"{n:,} {state}" for state, n in flow.states.items())
        if flow.app:
            result += f" ({app_counts(flow)})"
        if flow.verdict is not Verdict.PASS and flow.worst:
            groups: dict[str, list[str]] = {}
            for h in flow.worst:
                label = h.note
                if detailed:
                    label = host_label(h)
                groups.setdefault(label, []).append(h.host)
            named = "; ".join(
                f"{label}: {', '.join(hosts)}" if label else ", ".join(hosts)
                for label, hosts in groups.items()
            )
            more = f" and {flow.worst_more:,} more" if flow.worst_more else ""
            result += f"; {flow.verdict.value}: {named}{more}"
    return ("must not reach: " + result) if flow.expect == Expect.UNREACHABLE else result
