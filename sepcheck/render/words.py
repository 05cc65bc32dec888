"""Small words every renderer shares: counts with their plural, and durations."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """``1 probe``, ``2 probes``, ``1,024 probes``."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def duration(seconds: float) -> str:
    """A run's duration: ``1.4 s``; under a tenth of a second in milliseconds (``38 ms``),
    where ``0.0 s`` would say the run took no time."""
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"
