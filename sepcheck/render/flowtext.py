"""One flow's result in words, for the formats that print it as text (Markdown, HTML)."""

from __future__ import annotations

from sepcheck.model import Expect
from sepcheck.report.model import FlowResult
from sepcheck.results import Verdict


def flow_result_text(flow: FlowResult, *, detailed: bool) -> str:
    """One flow's result in words: the state of its single probe, or counts per state and
    the hosts of a non-passing verdict, grouped by what explains them (their note, such as
    "path open, nothing listening"; with ``detailed``, their state and reason too)."""
    if flow.probes == 1 and flow.worst:
        only = flow.worst[0]
        result = f"{only.state.value} ({only.detail})" + (f": {only.note}" if only.note else "")
    else:
        result = ", ".join(f"{n:,} {state}" for state, n in flow.states.items())
        if flow.verdict is not Verdict.PASS and flow.worst:
            groups: dict[str, list[str]] = {}
            for h in flow.worst:
                label = h.note
                if detailed:
                    label = f"{h.state.value} ({h.detail})" + (f", {h.note}" if h.note else "")
                groups.setdefault(label, []).append(h.host)
            named = "; ".join(
                f"{label}: {', '.join(hosts)}" if label else ", ".join(hosts)
                for label, hosts in groups.items()
            )
            more = f" and {flow.worst_more:,} more" if flow.worst_more else ""
            result += f"; {flow.verdict.value}: {named}{more}"
    return ("must not reach: " + result) if flow.expect == Expect.UNREACHABLE else result
