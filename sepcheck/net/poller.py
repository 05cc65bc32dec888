"""Readiness for many short-lived sockets at the cost of one epoll_ctl each (Linux).

The event loop's add_writer/add_reader cost far more per socket (uvloop builds a poll
handle each time), and a probe socket lives for one try. The Linux backend (and raw mode)
keep their own epoll set and let the loop watch only that one descriptor; closing a socket
drops it from the set, so removal costs nothing. The portable backend uses the loop's
hooks instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import sys
from collections.abc import Callable

if sys.platform != "linux":  # epoll
    raise ImportError("the epoll poller needs Linux")


class Poller:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.callbacks: dict[int, Callable[[], None]] = {}
        self.epoll = select.epoll()
        self.closed = False
        loop.add_reader(self.epoll.fileno(), self._dispatch)

    def watch(self, fd: int, write: bool, callback: Callable[[], None]) -> None:
        assert not self.closed, "watch() after close()"
        self.callbacks[fd] = callback
        self.epoll.register(fd, select.EPOLLOUT if write else select.EPOLLIN)

    def unwatch(self, fd: int, write: bool, closing: bool = False) -> None:
        """Stop watching ``fd``; ``closing``: the socket is about to be closed, which
        removes it from the epoll set by itself."""
        if self.callbacks.pop(fd, None) is not None and not closing and not self.closed:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(fd)

    def _dispatch(self) -> None:
        callbacks = self.callbacks
        for fd, _ in self.epoll.poll(0, 4096):
            callback = callbacks.get(fd)
            if callback is not None:
                callback()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.epoll.fileno())
            self.epoll.close()
        self.callbacks.clear()


def running_poller(current: Poller | None) -> Poller:
    """``current`` if it serves the running loop, else a new poller for it. Called once
    per probe: while ``current``'s loop runs, it is the running one (one loop per thread),
    and asking asyncio which loop runs costs a getpid() system call each time."""
    if current is not None and not current.closed and current.loop.is_running():
        return current
    loop = asyncio.get_running_loop()
    if current is None or current.loop is not loop:
        return Poller(loop)
    return current
