"""The Prometheus and Markdown outputs against the rules of what reads them:
node_exporter's textfile collector, a ticket's Markdown renderer (JUnit: test_junit.py).
Each test states the consumer's rule, not only that the output parses. ``make_run`` makes
the runs the format tests render."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sepcheck.catalogue import Catalogue
from sepcheck.model import Role
from sepcheck.plan import Probe, Vantage, build_plan
from sepcheck.render.markdown import markdown_report
from sepcheck.render.prometheus import PROMETHEUS_METRICS, prometheus_chunks
from sepcheck.report.collect import Collector
from sepcheck.report.model import ReportHead, TopologyRef, VantageInfo
from sepcheck.report.rows import ResultRow, SpooledRows
from sepcheck.results import ProbeResult, Stage, State
from sepcheck.topology import build_topology
from tests.test_report import run_parameters

StateOf = Callable[[int, Probe], State]

_EVIDENCE = {
    State.OPEN: ("syn-ack", 0.5, "syn-ack"),
    State.REFUSED: ("rst", 0.4, "refused (RST)"),
    State.FILTERED: ("no-response", None, "no-response after 2 tries"),
    State.OPEN_FILTERED: ("no-response", None, "no reply after 2 tries"),
    State.UNRESOLVED: ("unresolved", None, "name does not resolve"),
}


def make_run(
    catalogue: Catalogue,
    tmp_path: Path,
    *,
    hosts: dict[Role, list[Any]] | None = None,
    roles: Sequence[Role] = (Role.MANAGER,),
    state: StateOf = lambda i, probe: State.OPEN,
    stage: Stage = Stage.OPERATIONAL,
    complete: bool = True,
    measured: int | None = None,
    ports: dict[str, int] | None = None,
    hostname: str = "h",
) -> tuple[ReportHead, Collector]:
    """A run like ``tests.test_report.make_head``'s, with the topology, states, stage and
    completeness a test needs; ``measured`` keeps only the first probes (an interrupted
    run). ``hosts`` gives each role addresses or host groups. The caller closes the
    collector."""
    if hosts is None:
        hosts = {Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.0/30"]}
    document: dict[str, Any] = {
        # A list of addresses, or of host groups (tables with hosts and os).
        "roles": {
            role.value: h if h and isinstance(h[0], dict) else {"hosts": list(h)}
            for role, h in hosts.items()
        },
        "features": ["windows_push"],
        "ports": dict(ports or {}),
    }
    topology = build_topology(document, catalogue, digest="0" * 64)
    plan = build_plan(catalogue, topology, Vantage(tuple(roles)))
    collector = Collector(plan, stage, tmp_path)
    for i, probe in enumerate(plan.probes()):
        if measured is not None and i >= measured:
            break
        found = state(i, probe)
        reason, rtt, detail = _EVIDENCE[found]
        address = None if found is State.UNRESOLVED else probe.address
        collector.add(ProbeResult(probe, address, found, reason, None, rtt, 1, detail))
    head = collector.finish(
        complete=complete,
        duration=1.5,
        tool_version="0.0.test",
        vantage=VantageInfo(
            hostname=hostname,
            role=[r.value for r in roles],
            inferred=False,
            local_addresses=["198.18.2.2"],
        ),
        topology=TopologyRef(path=None, sha256=topology.digest),
        parameters=run_parameters(stage.value),
    )
    return head, collector


def render(
    renderer: Callable[[ReportHead, Iterable[ResultRow]], Any],
    catalogue: Catalogue,
    tmp_path: Path,
    **run: Any,
) -> tuple[ReportHead, str]:
    head, collector = make_run(catalogue, tmp_path, **run)
    try:
        return head, "".join(renderer(head, SpooledRows.of(collector.spools)))
    finally:
        collector.close()


# A client network and an address inside it: 198.18.16.1 is probed twice for each flow.
LISTED_TWICE = {Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.0/30", "198.18.16.1"]}


def filtered_every_third(i: int, probe: Probe) -> State:
    return State.FILTERED if i % 3 == 0 else State.OPEN


# -- Prometheus: node_exporter's textfile collector ---------------------------------------


def series(text: str) -> list[tuple[str, frozenset[tuple[str, str]], float]]:
    """Every sample as (name, label set, value), as node_exporter reads the file."""
    return [
        (s.name, frozenset(s.labels.items()), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def assert_no_duplicate_series(text: str) -> None:
    """node_exporter's rule: two samples with the same name and label set make the whole
    file rejected ("collected metric ... was collected before with the same name and
    label values"), not only the repeated series."""
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for name, labels, _ in series(text):
        assert (name, labels) not in seen, f"duplicate series {name}{dict(labels)}"
        seen.add((name, labels))


def test_prometheus_host_listed_twice_has_one_series(catalogue: Catalogue, tmp_path: Path) -> None:
    head, text = render(prometheus_chunks, catalogue, tmp_path, hosts=LISTED_TWICE)
    assert head.summary.probes == 3 * 4 + 3  # the doubled host is probed twice per flow
    assert_no_duplicate_series(text)
    up = [labels for name, labels, _ in series(text) if name == "sepcheck_flow_up"]
    assert len(up) == 2 * 4 + 3  # one series per host and flow


def test_prometheus_repeated_host_keeps_its_worst_result(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    seen: set[tuple[str, str]] = set()

    def second_copy_fails(i: int, probe: Probe) -> State:
        key = (probe.flow, probe.host)
        first = key not in seen
        seen.add(key)
        return State.OPEN if first else State.FILTERED

    _, text = render(
        prometheus_chunks, catalogue, tmp_path, hosts=LISTED_TWICE, state=second_copy_fails
    )
    assert_no_duplicate_series(text)
    samples = series(text)
    twice = ("host", "198.18.16.1")

    def values(metric: str) -> dict[str, float]:
        return {
            dict(labels)["flow"]: v
            for name, labels, v in samples
            if name == metric and twice in labels
        }

    # The copy that failed (or warned: NetBIOS is only a fallback) decides, not the one
    # that passed.
    assert values("sepcheck_flow_up")["manager-client-push-smb"] == 0
    warned = {"manager-client-push-netbios-" + s for s in ("ssn", "ns", "dgm")}
    assert {f for f, v in values("sepcheck_probe_warning").items() if v} == warned
    filtered = [
        v
        for name, labels, v in samples
        if name == "sepcheck_probe_state" and twice in labels and ("state", "filtered") in labels
    ]
    assert filtered == [1.0] * 4


def test_prometheus_series_survive_a_state_change(catalogue: Catalogue, tmp_path: Path) -> None:
    """A probe's series are the same whether it was open or filtered: its outcome is a
    value, never a label (a label that changes starts a new series and breaks graphs)."""
    _, before = render(prometheus_chunks, catalogue, tmp_path)
    _, after = render(prometheus_chunks, catalogue, tmp_path, state=lambda i, p: State.FILTERED)

    def identities(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
        skip = ("sepcheck_run_", "sepcheck_probe_rtt_seconds")  # no rtt without an answer
        return {(n, labels) for n, labels, _ in series(text) if not n.startswith(skip)}

    assert identities(before) == identities(after)
    up = [labels for name, labels, _ in series(after) if name == "sepcheck_flow_up"]
    assert {k for labels in up for k, _ in labels} == {
        "flow",
        "source",
        "destination",
        "host",
        "address",
        "protocol",
        "port",
    }


def test_prometheus_state_set(catalogue: Catalogue, tmp_path: Path) -> None:
    head, text = render(prometheus_chunks, catalogue, tmp_path, state=filtered_every_third)
    states: dict[frozenset[tuple[str, str]], dict[str, float]] = {}
    for name, labels, value in series(text):
        if name == "sepcheck_probe_state":
            probe = frozenset(p for p in labels if p[0] != "state")
            states.setdefault(probe, {})[dict(labels)["state"]] = value
    assert len(states) == head.summary.probes
    for values in states.values():
        assert set(values) == {s.value for s in State}  # every state, always
        assert sorted(values.values()) == [0, 0, 0, 0, 1]  # exactly one measured
    measured = sum(1 for v in states.values() if v["filtered"] == 1)
    assert measured == head.summary.states["filtered"]
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families == set(PROMETHEUS_METRICS)


def test_prometheus_interrupted_or_empty_run_does_not_pass(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    def run_values(**run: Any) -> dict[str, float]:
        _, text = render(prometheus_chunks, catalogue, tmp_path, **run)
        return {n: v for n, _, v in series(text) if n.startswith("sepcheck_run_")}

    assert run_values()["sepcheck_run_pass"] == 1
    interrupted = run_values(complete=False, measured=5)
    assert interrupted["sepcheck_run_pass"] == 0
    assert interrupted["sepcheck_run_complete"] == 0
    nothing = run_values(roles=(Role.DATABASE,))  # a database host opens no flow
    assert nothing["sepcheck_run_pass"] == 0
    assert nothing["sepcheck_run_complete"] == 1


# -- Markdown: a change ticket on GitHub or GitLab ---------------------------------------


def test_markdown_says_interrupted_not_pass(catalogue: Catalogue, tmp_path: Path) -> None:
    def first_line(**run: Any) -> str:
        head, collector = make_run(catalogue, tmp_path, **run)
        collector.close()
        return markdown_report(head).splitlines()[0]

    assert first_line() == "## sepcheck: PASS"
    assert first_line(complete=False, measured=5) == "## sepcheck: INTERRUPTED"
    assert first_line(roles=(Role.DATABASE,)) == "## sepcheck: NOTHING CHECKED"
    failing_cut = first_line(complete=False, measured=5, state=filtered_every_third)
    assert failing_cut == "## sepcheck: FAIL (INTERRUPTED)"


def test_markdown_shows_the_warning_note(catalogue: Catalogue, tmp_path: Path) -> None:
    head, collector = make_run(
        catalogue,
        tmp_path,
        hosts={Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.1"]},
        state=lambda i, p: State.REFUSED,
        stage=Stage.PRE_INSTALL,
    )
    collector.close()
    text = markdown_report(head)
    row = next(line for line in text.splitlines() if "manager-client-push-smb" in line)
    assert "**WARN**" in row
    assert "path open, nothing listening" in row


def test_markdown_escapes_catalogue_text(catalogue: Catalogue, tmp_path: Path) -> None:
    head, collector = make_run(catalogue, tmp_path, state=filtered_every_third)
    collector.close()
    evil = '<img src=x onerror="alert(1)"> a | b'
    flows = [
        f.model_copy(
            update={
                "purpose": evil,
                "worst": [h.model_copy(update={"note": "<b>bold</b>"}) for h in f.worst],
            }
        )
        for f in head.summary.flow_results
    ]
    head = head.model_copy(
        update={"summary": head.summary.model_copy(update={"flow_results": flows})}
    )
    text = markdown_report(head)
    assert "<img" not in text
    assert "<b>" not in text
    assert '&lt;img src=x onerror="alert(1)"&gt; a \\| b' in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    for line in text.splitlines():
        if line.startswith("| **"):
            # Five cells: the only unescaped pipes are the table's own.
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line
