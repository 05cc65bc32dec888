"""Application checks during a check: each open TCP result of a flow that has a check
waits for its finding before it goes to the collector.

The checks run beside the engine's probes, a few at a time (``AppPlan.concurrency``), each
within the probe timeout; a result is handed on exactly once, with its finding, whatever
happens (the server's silence, a bug in a client, Ctrl-C: the finding then says the check
was interrupted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from sepcheck.appcheck import interpret
from sepcheck.appcheck.definitions import AppChecks, CheckDef
from sepcheck.appcheck.finding import AppFinding
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

    def take(self, result: ProbeResult) -> bool:
        """Start the check of ``result`` when it has one: True when taken (the result is
        handed on later, with its finding), False when the caller hands it on now."""
        if result.state is not State.OPEN or result.address is None:
            return False
        check = self.settings.checks.get(result.probe.flow)
        if check is None:
            return False
        task = asyncio.get_running_loop().create_task(self._check(result, check, result.address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def _check(self, result: ProbeResult, check: CheckDef, address: str) -> None:
        probe = result.probe
        try:
            async with self._slots:
                try:
                    async with asyncio.timeout(self.settings.timeout):
                        finding = await interpret.run(
                            check,
                            probe.host,
                            address,
                            probe.port,
                            user_agent=self.settings.user_agent,
                            known_version=self.settings.versions.get(probe.host),
                        )
                except TimeoutError:
                    finding = interpret.timed_out(check, self.settings.timeout)
        except asyncio.CancelledError:
            self.add(
                replace(result, app=_unfinished(check, "the run was interrupted", "interrupted"))
            )
            raise
        except Exception as exc:
            # A client's bug must not lose what the probe measured: the port is still
            # open, and the finding says the check could not tell, and why.
            finding = _unfinished(check, f"the check failed: {type(exc).__name__}: {exc}", "error")
        self.add(replace(result, app=finding))

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


def _unfinished(check: CheckDef, why: str, failure: str) -> AppFinding:
    return AppFinding(check.name, check.service, None, f"not finished: {why}", {"failure": failure})
