"""One result per identity, for the formats whose consumers refuse a repeated one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator

from sepcheck.report.rows import ResultRow
from sepcheck.results import Verdict


class UniqueResults:
    """The results with one per identity (``key``): a host listed twice in the topology (a
    network and an address inside it, two overlapping networks or ranges) is probed and
    judged twice, but a Prometheus series or a JUnit test case must exist once (node_exporter
    rejects a whole file for one duplicate). Of a repeated identity the worst verdict is
    kept, so a failure is never hidden behind the copy that passed.

    ``rows`` is read more than once (``SpooledRows`` reads the spools on each pass). Two
    passes find the repeats without holding the results: the first keeps only the hash of
    each identity (some 70 bytes a result), the second keeps the results whose hash came
    twice (few: a hash clash only costs a look at the full key)."""

    def __init__(self, rows: Iterable[ResultRow], key: Callable[[ResultRow], Hashable]) -> None:
        self.rows = rows
        self.key = key
        seen: set[int] = set()
        twice: set[int] = set()
        verdicts: Counter[Verdict] = Counter()
        for r in rows:
            verdicts[r.verdict] += 1
            h = hash(key(r))
            if h in seen:
                twice.add(h)
            seen.add(h)
        del seen
        self.kept: dict[Hashable, ResultRow] = {}
        if twice:
            for r in rows:
                k = key(r)
                if hash(k) not in twice:
                    continue
                verdicts[r.verdict] -= 1
                kept = self.kept.get(k)
                if kept is None or r.verdict.rank > kept.verdict.rank:
                    self.kept[k] = r
            verdicts.update(r.verdict for r in self.kept.values())
        self.verdicts = verdicts
        """Results by verdict, one per identity."""

    @property
    def count(self) -> int:
        return sum(self.verdicts.values())

    def __iter__(self) -> Iterator[ResultRow]:
        done: set[Hashable] = set()
        for r in self.rows:
            if not self.kept:
                yield r
                continue
            k = self.key(r)
            kept = self.kept.get(k)
            if kept is None:
                yield r
            elif k not in done:
                done.add(k)
                yield kept
