"""The shared words of the renderers."""

from __future__ import annotations

import pytest

from sepcheck.render.words import duration, plural


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 reports"), (1, "1 report"), (2, "2 reports"), (262139, "262,139 reports")],
)
def test_plural(count: int, text: str) -> None:
    assert plural(count, "report") == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0 ms"), (0.0384, "38 ms"), (0.0999, "100 ms"), (0.1, "0.1 s"), (14.26, "14.3 s")],
)
def test_a_tiny_run_does_not_take_no_time(seconds: float, text: str) -> None:
    """'7 probes in 0.0 s' said the run took no time."""
    assert duration(seconds) == text
