"""Fixtures for lab tests: a fresh three-host lab per module, torn down even on failure."""

from __future__ import annotations

import atexit
from collections.abc import Iterator

import pytest

from tests.lab.lab import Lab, missing_requirements


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    built = Lab()
    atexit.register(built.teardown)  # also after an interrupted run
    try:
        built.build()
        yield built
    finally:
        built.teardown()
        atexit.unregister(built.teardown)
