"""What the engine (and ``sepcheck trace``) needs from a backend, and what a backend
promises in return. Every backend (linux, portable, raw, and the tests' scripted fake)
implements these protocols; nothing above ``net/`` knows a concrete backend class.

The call-once contract, which the engine relies on instead of checking:

- ``start_tcp`` and ``Channel.send`` start one *try* and return it at once. They never
  call ``done`` before returning: an answer known at once (loopback, a local firewall, no
  route) is passed on the loop's next turn (``loop.call_soon``).
- ``done`` is called at most once per try, with an answer (never with silence). After the
  caller has called ``expire()`` or ``abort()`` on a try, its ``done`` is never called.
- ``expire()`` is called by the caller when the try's deadline passes. It reads what the
  kernel may have received meanwhile (a loop that ran late must not turn an answer into
  silence) and *returns* the outcome, ``SILENT`` if nothing came. It is called at most once.
- ``abort()`` drops a try without an outcome (the run is stopping).
- A failure that says something about the target (refused, unreachable, a local firewall)
  is an outcome, never an exception: errno and ICMP codes are translated inside ``net/``
  (``classify.py``) and nowhere else. The one exception a backend raises is
  ``LocalResourceError`` (out of sockets or buffers here): the caller waits and retries.
- A UDP ``Channel`` lives for the whole probe (all its tries), so a late answer to an
  earlier try still counts; the caller closes it when the probe is finished.
- ``ttl`` (traceroute): the TTL or hop limit the try is sent with; None for the system's
  default. Only the raw backend reads the routers' time-exceeded answers first-hand.
- ``close()`` releases everything the backend holds; the backend's owner calls it once,
  after the last try.

A backend may also offer a ``syn_scanner`` (raw mode does, and the Linux backend, whose
connect() sends the SYN): TCP probes sent without a try object or a callback each, for
runs of many thousands of probes. The engine hands a ticket (a number) with each SYN and
reads the answers back in batches; the same rules
hold: an answer per ticket at most once, never before ``send_syn`` returns, never after
``expire`` or ``abort`` of that ticket; failures that say something are answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sepcheck.net.outcome import Outcome

Done = Callable[[Outcome], None]
"""Called with a try's answer (see the contract above)."""


class Try(Protocol):
    def expire(self) -> Outcome:
        """The deadline passed: the outcome now known, SILENT if none."""
        ...

    def abort(self) -> None: ...


class Channel(Protocol):
    """A UDP probe's socket: one ``send`` per try."""

    def send(self, payload: bytes, done: Done) -> Try: ...

    def close(self) -> None: ...


class SynScanner(Protocol):
    """A backend's batch path for TCP probes (see the module's docstring)."""

    on_answer: Callable[[], None] | None
    """Called (with nothing) when answers are waiting: the engine wakes up to read them."""

    def send_syn(self, ticket: int, address: str, port: int, ttl: int | None) -> None:
        """Send one SYN now. Raises LocalResourceError when this host is out of buffers;
        any other failure becomes the ticket's answer."""
        ...

    def answers(self) -> list[tuple[int, Outcome]]:
        """Every (ticket, outcome) answered since the last call, after reading all that
        the kernel holds for us: an answer that arrived before a deadline is never lost
        to a loop that ran late."""
        ...

    def expire(self, ticket: int) -> Outcome:
        """The ticket's deadline passed: its answer if one came since ``answers()`` was
        last called, else a held answer (judged as well as can be), else SILENT. The
        ticket is forgotten."""
        ...

    def abort(self, ticket: int) -> None: ...


class Backend(Protocol):
    """The network, as the engine sees it (real sockets, raw sockets or a scripted fake)."""

    name: str
    """As the report's ``parameters.backend`` says: linux, portable, raw (or fake)."""

    async def resolve(self, name: str, family: int) -> list[str]:
        """The addresses of ``name``; raises OSError when it does not resolve."""
        ...

    def start_tcp(self, address: str, port: int, done: Done, ttl: int | None = None) -> Try: ...

    def open_udp(self, address: str, port: int, ttl: int | None = None) -> Channel: ...

    def close(self) -> None: ...
