"""Compare two reports probe by probe: what got worse, what got better, what changed.

A probe is identified by flow, host, address, protocol and port. A regression is a probe
whose verdict got worse (pass -> warn or fail, warn -> fail); a fix, one that got better;
a change, same verdict but another state, reason or replying device (say, filtered by a
different firewall). Probes only in the later report are added, only in the earlier one
removed; but when a report is incomplete (interrupted), what it lacks was not measured,
and is listed as such instead of as added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sepcheck.report.model import Report, ResultItem

Key = tuple[str, str, str, str, int]


class Change(StrEnum):
    REGRESSION = "regressions"
    FIX = "fixes"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"
    UNMEASURED = "unmeasured"


@dataclass(frozen=True)
class DiffItem:
    kind: Change
    flow: str
    host: str
    address: str | None
    protocol: str
    port: int
    before: ResultItem | None
    after: ResultItem | None

    def as_dict(self) -> dict[str, object]:
        def side(item: ResultItem | None) -> dict[str, object] | None:
            if item is None:
                return None
            return {
                "state": item.state.value,
                "reason": item.reason,
                "detail": item.detail,
                "reply_from": item.reply_from,
                "verdict": item.verdict.value,
            }

        return {
            "flow": self.flow,
            "host": self.host,
            "address": self.address,
            "protocol": self.protocol,
            "port": self.port,
            "before": side(self.before),
            "after": side(self.after),
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


def _key(item: ResultItem) -> Key:
    return (item.flow, item.host, item.address or item.host, item.protocol, item.port)


def diff_reports(before: Report, after: Report) -> Diff:
    result = Diff(before_complete=before.complete, after_complete=after.complete)
    old = {_key(item): item for item in before.results}
    new = {_key(item): item for item in after.results}
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k[0], k[2], k[4])):
        a, b = old.get(key), new.get(key)
        if a is None:
            kind = Change.ADDED if before.complete else Change.UNMEASURED
        elif b is None:
            kind = Change.REMOVED if after.complete else Change.UNMEASURED
        elif b.verdict.rank > a.verdict.rank:
            kind = Change.REGRESSION
        elif b.verdict.rank < a.verdict.rank:
            kind = Change.FIX
        elif (a.state, a.reason, a.reply_from) != (b.state, b.reason, b.reply_from):
            kind = Change.CHANGED
        else:
            continue
        ref = b or a
        assert ref is not None
        result.items[kind].append(DiffItem(kind, key[0], key[1], ref.address, key[3], key[4], a, b))
    return result
