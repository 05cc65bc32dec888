"""Every async test here runs on asyncio's own loop and on uvloop, the loop sepcheck runs
on where it is installed (sepcheck/drive.py): their TLS and stream code are separate
implementations, and the clients must behave the same on both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, LoopFactory]:
    factories: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:  # not on Windows: there sepcheck runs on asyncio's loop too
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
