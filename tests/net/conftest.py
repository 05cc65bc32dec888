"""Every async test under tests/net runs on asyncio's own loop and on uvloop, the loop
sepcheck runs on where it is installed (sepcheck/drive.py): their stream and datagram code
are separate implementations, and the clients must behave the same on both
(tests/net/app/conftest.py says the same for tests/net/app, and is now redundant)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Mapping

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


@pytest.fixture
async def loop_errors() -> AsyncIterator[None]:
    """The loop reports nothing during the test: no exception in a callback or a test
    server's handler, no future's exception left unretrieved by a client (reported when it
    is collected). Without it such errors are only logged, and the test passes."""
    errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield
    await asyncio.sleep(0)  # the transports' closing callbacks
    gc.collect()
    assert errors == []
