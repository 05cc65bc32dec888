"""Compare two reports probe by probe: what got worse, what got better, what changed.

A probe is identified by flow, host, address, protocol and port. A regression is a probe
whose verdict got worse (pass -> warn or fail, warn -> fail); a fix, one that got better;
a change, same verdict but another state, reason or replying device (say, filtered by a
different firewall). Probes only in the later report are added, only in the earlier one
removed; but when a report is incomplete (interrupted), what it lacks was not measured,
and is listed as such instead of as added or removed.

The earlier report is indexed (``Baseline``: a few fields per result); the later one is
only walked, once, so a run can be compared straight from its spools without ever being
held whole. Of a probe listed twice in one report, the later result counts.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sepcheck.report.model import Report, ReportHead, ResultItem
from sepcheck.results import State, Verdict

Key = tuple[str, str, str, str, int]


class Measured(typing.Protocol):
    """What the diff reads of a result: a report's ``ResultItem`` or a run's ``ResultRow``."""

    @property
    def flow(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def address(self) -> str | None: ...
    @property
    def protocol(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def verdict(self) -> Verdict: ...
    @property
    def state(self) -> State: ...
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def reply_from(self) -> str | None: ...


class Change(StrEnum):
    REGRESSION = "regressions"
    FIX = "fixes"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"
    UNMEASURED = "unmeasured"


@dataclass(frozen=True, slots=True)
class Side:
    """One report's result of a probe, as far as a diff shows it."""

    verdict: Verdict
    state: State
    reason: str
    detail: str
    reply_from: str | None
    address: str | None

    @classmethod
    def of(cls, item: Measured) -> Side:
        return cls(
            item.verdict, item.state, item.reason, item.detail, item.reply_from, item.address
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "detail": self.detail,
            "reply_from": self.reply_from,
            "verdict": self.verdict.value,
        }


@dataclass(frozen=True)
class DiffItem:
    kind: Change
    flow: str
    host: str
    address: str | None
    protocol: str
    port: int
    before: Side | None
    after: Side | None

    def as_dict(self) -> dict[str, object]:
        return {
            "flow": self.flow,
            "host": self.host,
            "address": self.address,
            "protocol": self.protocol,
            "port": self.port,
            "before": self.before.as_dict() if self.before else None,
            "after": self.after.as_dict() if self.after else None,
        }


@dataclass
class Diff:
    items: dict[Change, list[DiffItem]] = field(
        default_factory=lambda: {kind: [] for kind in Change}
    )
    before_complete: bool = True
    after_complete: bool = True

    @property
    def regressions(self) -> list[DiffItem]:
        return self.items[Change.REGRESSION]

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            kind.value: [item.as_dict() for item in items] for kind, items in self.items.items()
        }
        out["before_complete"] = self.before_complete
        out["after_complete"] = self.after_complete
        return out


def _key(item: Measured) -> Key:
    # str(): a run's row holds the protocol as an enum, a report's item as text.
    return (item.flow, item.host, item.address or item.host, str(item.protocol), item.port)


@dataclass(frozen=True)
class Baseline:
    """The earlier report, indexed for comparison: its results by probe, and whether it
    is complete (the report itself need not be kept)."""

    sides: dict[Key, Side]
    complete: bool

    @classmethod
    def of(cls, report: Report) -> Baseline:
        return cls.indexed(report, iter(report.results))

    @classmethod
    def indexed(cls, head: ReportHead, results: Iterator[ResultItem]) -> Baseline:
        return cls({_key(item): Side.of(item) for item in results}, head.complete)

    @classmethod
    def read(cls, path: Path) -> Baseline:
        """The report at ``path``, indexed as it is read (never held whole when sepcheck
        wrote it); a bad file raises load_report's ``ReportError``."""
        from sepcheck.report.stream import scan_report

        return scan_report(path, cls.indexed)


def _kind(
    a: Side | None, b: Side | None, before_complete: bool, after_complete: bool
) -> Change | None:
    """How a probe changed from ``a`` (before) to ``b`` (after); None if it did not."""
    if a is None:
        return Change.ADDED if before_complete else Change.UNMEASURED
    if b is None:
        return Change.REMOVED if after_complete else Change.UNMEASURED
    if b.verdict.rank > a.verdict.rank:
        return Change.REGRESSION
    if b.verdict.rank < a.verdict.rank:
        return Change.FIX
    if (a.state, a.reason, a.reply_from) != (b.state, b.reason, b.reply_from):
        return Change.CHANGED
    return None


def diff_against(before: Baseline, after: Iterable[Measured], after_complete: bool) -> Diff:
    """Compare ``after``'s results, walked once, with the indexed earlier report. What is
    remembered meanwhile is bounded by the baseline and the changes: a probe the baseline
    lacks is always a change, and only one it has can turn out unchanged."""
    return _diff(before, ((_key(item), Side.of(item)) for item in after), after_complete)


def diff_baselines(before: Baseline, after: Baseline) -> Diff:
    """Compare two indexed reports (``sepcheck diff``: each read without holding it)."""
    return _diff(before, iter(after.sides.items()), after.complete)


def _diff(before: Baseline, after: Iterator[tuple[Key, Side]], after_complete: bool) -> Diff:
    found: dict[Key, DiffItem | None] = {}
    for key, b in after:
        found[key] = _item(key, before.sides.get(key), b, before.complete, after_complete)
    for key, a in before.sides.items():
        if key not in found:
            found[key] = _item(key, a, None, before.complete, after_complete)
    result = Diff(before_complete=before.complete, after_complete=after_complete)
    # By flow, address and port, as the table reads best; then by the rest of the key, so
    # that ties come in one order.
    for change in sorted((i for i in found.values() if i is not None), key=_order):
        result.items[change.kind].append(change)
    return result


def _item(
    key: Key, a: Side | None, b: Side | None, before_complete: bool, after_complete: bool
) -> DiffItem | None:
    kind = _kind(a, b, before_complete, after_complete)
    if kind is None:
        return None
    ref = b or a
    assert ref is not None
    flow, host, _, protocol, port = key
    return DiffItem(kind, flow, host, ref.address, protocol, port, a, b)


def _order(item: DiffItem) -> tuple[str, str, int, str, str]:
    return (item.flow, item.address or item.host, item.port, item.host, item.protocol)


def diff_reports(before: Report, after: Report) -> Diff:
    return diff_against(Baseline.of(before), after.results, after.complete)
