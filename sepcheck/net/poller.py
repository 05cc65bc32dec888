"""Readiness for many short-lived sockets at the cost of one epoll_ctl each (Linux).

The event loop's add_writer/add_reader cost far more per socket (uvloop builds a poll
handle each time), and a probe socket lives for one try. The Linux backend keeps its own
epoll set and lets the loop watch only that one descriptor; closing a socket drops it from
the set, so removal costs nothing. Where epoll does not exist the loop's hooks are used
(the portable backend always uses them).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Callable

_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_EPOLLIN = getattr(select, "EPOLLIN", 1)


class Poller:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.callbacks: dict[int, Callable[[], None]] = {}
        self.epoll = select.epoll() if hasattr(select, "epoll") else None
        if self.epoll is not None:
            loop.add_reader(self.epoll.fileno(), self._dispatch)

    def watch(self, fd: int, write: bool, callback: Callable[[], None]) -> None:
        if self.epoll is None:
            (self.loop.add_writer if write else self.loop.add_reader)(fd, callback)
            return
        self.callbacks[fd] = callback
        self.epoll.register(fd, _EPOLLOUT if write else _EPOLLIN)

    def unwatch(self, fd: int, write: bool, closing: bool = False) -> None:
        """Stop watching ``fd``; ``closing``: the socket is about to be closed, which
        removes it from the epoll set by itself."""
        if self.epoll is None:
            (self.loop.remove_writer if write else self.loop.remove_reader)(fd)
            return
        if self.callbacks.pop(fd, None) is not None and not closing:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(fd)

    def _dispatch(self) -> None:
        assert self.epoll is not None
        callbacks = self.callbacks
        for fd, _ in self.epoll.poll(0, 4096):
            callback = callbacks.get(fd)
            if callback is not None:
                callback()

    def close(self) -> None:
        if self.epoll is not None:
            self.loop.remove_reader(self.epoll.fileno())
            self.epoll.close()
            self.epoll = None
        self.callbacks.clear()


def running_poller(current: Poller | None) -> Poller:
    """``current`` if it serves the running loop, else a new poller for it."""
    loop = asyncio.get_running_loop()
    if current is None or current.loop is not loop:
        return Poller(loop)
    return current
