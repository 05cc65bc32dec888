"""Application checks during a check: each open TCP result of a flow that has a check
waits for its finding before it goes to the collector.

The checks run beside the engine's probes, a few at a time (``AppPlan.concurrency``), each
within the probe timeout; a result is handed on exactly once, with its finding, whatever
happens (the server's silence, a bug in a client, Ctrl-C: the finding then says the check
was interrupted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sepcheck.appcheck import interpret, responder
from sepcheck.appcheck.definitions import AppChecks, CheckDef
from sepcheck.appcheck.finding import AppFinding
from sepcheck.appcheck.responder import ResponderPlan
from sepcheck.model import Protocol
from sepcheck.plan import Plan
from sepcheck.results import ProbeResult, State
from sepcheck.verdict import CERT_WARN_DAYS

CONCURRENCY = 64
"""Checks at once: they go only to ports that answered open (a site's managers, SQL
Servers and push targets), and each holds a full connection, unlike a probe."""


@dataclass(frozen=True)
class AppPlan:
    """The application checks of one run."""

    checks: Mapping[str, CheckDef]
    """By flow (catalogue entry id): the check its open results get."""
    timeout: float
    """The longest a check may take once started (the probe timeout)."""
    user_agent: str
    versions: Mapping[str, str] = field(default_factory=dict)
    """The SEP version read from each manager (by host, as the topology names it), for
    the words of its other checks: 'SEPM 14.3.9816.7000 (secars OK)'."""
    concurrency: int = CONCURRENCY
    cert_warn_days: float = CERT_WARN_DAYS
    """A server certificate expiring within this many days warns (--cert-warn-days)."""
    responder: ResponderPlan | None = None
    """--responder-token: a sepcheck responder confirms each probe instead (pre-install)."""


def plan_checks(plan: Plan, checks: AppChecks) -> dict[str, CheckDef]:
    """The check of each planned flow that has one."""
    found: dict[str, CheckDef] = {}
    for flow in plan.flows:
        entry = flow.entry
        check = checks.find(entry.destination, entry.protocol, entry.port)
        if check is not None:
            found[entry.id] = check
    return found


class AppRunner:
    def __init__(self, settings: AppPlan, add: Callable[[ProbeResult], None]) -> None:
        self.settings = settings
        self.add = add
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._answered: dict[str, list[int]] = {}
        """TCP ports of each address where the responder answered (asked first)."""

    def take(self, result: ProbeResult) -> bool:
        """Start the check of ``result`` when it has one: True when taken (the result is
        handed on later, with its finding), False when the caller hands it on now."""
        if result.address is None:
            return False
        if self.settings.responder is not None:
            if result.state not in _RESPONDER_STATES[result.probe.protocol]:
                return False
            self._start(self._respond(result, self.settings.responder))
            return True
        if result.state is not State.OPEN:
            return False
        check = self.settings.checks.get(result.probe.flow)
        if check is None:
            return False
        self._start(self._check(result, check, result.address))
        return True

    def _start(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, result: ProbeResult, plan: ResponderPlan) -> None:
        """The responder's confirmation of ``result``, handed on exactly once."""
        timeout = self.settings.timeout
        address = result.address or ""
        done = await self._guarded(
            result,
            # The ports answered so far are read once a slot is free: others may be known.
            lambda: responder.check(result, plan, timeout, self._answered.get(address, ())),
            timeout * responder.DEADLINE_TRIES,
            (responder.CHECK, responder.SERVICE),
            lambda: _unfinished(responder.CHECK, responder.SERVICE, "no answer in time", "timeout"),
        )
        if done.app is not None and done.app.ok and done.probe.protocol is Protocol.TCP:
            self._answered.setdefault(address, []).append(done.probe.port)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def _check(self, result: ProbeResult, check: CheckDef, address: str) -> None:
        probe = result.probe

        async def attempt() -> ProbeResult:
            finding = await interpret.run(
                check,
                probe.host,
                address,
                probe.port,
                user_agent=self.settings.user_agent,
                known_version=self.settings.versions.get(probe.host),
            )
            return replace(result, app=finding)

        await self._guarded(
            result,
            attempt,
            self.settings.timeout,
            (check.name, check.service),
            lambda: interpret.timed_out(check, self.settings.timeout),
        )

    async def _guarded(
        self,
        result: ProbeResult,
        attempt: Callable[[], Awaitable[ProbeResult]],
        deadline: float,
        named: tuple[str, str],
        timed_out: Callable[[], AppFinding],
    ) -> ProbeResult:
        """Run ``attempt`` in a slot within ``deadline`` and hand its result on, exactly
        once whatever happens: past the deadline with ``timed_out()``'s finding; a bug in
        a client keeps what the probe measured (the port is still open, the finding says
        the check could not tell, and why); an interrupt hands it on marked, then goes on
        up. ``named``: the check's name and service, for those findings."""
        try:
            async with self._slots:
                try:
                    async with asyncio.timeout(deadline):
                        done = await attempt()
                except TimeoutError:
                    done = replace(result, app=timed_out())
        except asyncio.CancelledError:
            self.add(
                replace(result, app=_unfinished(*named, "the run was interrupted", "interrupted"))
            )
            raise
        except Exception as exc:
            why = f"the check failed: {type(exc).__name__}: {exc}"
            done = replace(result, app=_unfinished(*named, why, "error"))
        self.add(done)
        return done

    async def drain(self) -> None:
        """Wait for every started check (each bounded by the timeout)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def abandon(self) -> None:
        """Stop every check still running; each hands its result on, marked."""
        for task in self._tasks:
            task.cancel()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


_RESPONDER_STATES = {
    Protocol.TCP: frozenset({State.OPEN}),
    Protocol.UDP: frozenset({State.OPEN, State.OPEN_FILTERED}),
}
"""What a responder can confirm: a completed handshake; a datagram answered or unanswered
(never a refused or ICMP-filtered one: nothing of it reached a listener)."""


def _unfinished(name: str, service: str, why: str, failure: str) -> AppFinding:
    return AppFinding(name, service, None, f"not finished: {why}", {"failure": failure})
