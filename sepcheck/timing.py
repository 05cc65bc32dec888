"""Timing: how long to wait for a silent probe, how often to retry, how fast to send.

Timeouts follow nmap's timing.cc (RFC 6298 style): per destination, ``srtt += delta/8``,
``rttvar += (|delta| - rttvar)/4``, ``timeout = srtt + 4*rttvar``, clamped to
[min, max]. A destination without samples borrows the run-wide estimate, and before any
answer at all the initial timeout applies. Silent probes are retried: at least
``retries`` times, and more (up to ``max_retries``) once the run has seen an answer arrive
only on a later try (nmap's max_successful_tryno: the network is losing packets, so more
tries are worth it). Sending is paced by a token bucket (packets per second).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

_MISS_TARGET = 1e-5
HOSTS_KEPT = 4096
"""Destinations whose own RTT estimate is kept at once; others use the run-wide one."""
_LOSS_SAMPLES = 20
"""Answers needed before the loss estimate is trusted."""
ASSUMED_LOSS = 1 - 0.95 * 0.95
"""The chance that a try or its answer is lost on a path losing 5% each way: what a small
run assumes until the path proves clean (at most a few probes give no evidence of loss)."""
SMALL_RUN = 1000
"""Runs with fewer probes than this assume loss (``TimingSettings.assume_loss``): their
extra tries cost seconds at most, while a misread flow costs an administrator's day."""


@dataclass(frozen=True)
class TimingSettings:
    initial_timeout: float = 1.0
    """Seconds to wait before anything is known of the path."""
    min_timeout: float = 0.1
    max_timeout: float = 1.5
    """Never wait longer than this for one try (--timeout)."""
    retries: int = 1
    """Retries for silent probes on a clean network (2 tries in all)."""
    max_retries: int = 6
    """Upper bound when the network is seen losing packets."""
    assume_loss: bool = False
    """Retry as if the path lost ASSUMED_LOSS of tries until enough answers show how
    lossy it really is (small runs)."""


@dataclass(slots=True)
class RttEstimator:
    srtt: float | None = None
    rttvar: float = 0.0
    samples: int = 0
    exact: bool = False
    """Fed with kernel-measured RTTs: loop-measured ones (which include the event loop's
    lag) are then ignored, so a busy prober does not stretch everyone's timeouts."""

    def add(self, rtt: float, exact: bool = False) -> None:
        if self.exact and not exact:
            return
        if exact and not self.exact:
            self.exact = True
            self.srtt, self.samples = None, 0
        self.samples += 1
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
            return
        delta = rtt - self.srtt
        self.srtt += delta / 8
        self.rttvar += (abs(delta) - self.rttvar) / 4


@dataclass
class Timing:
    """Run-wide timing state: per-destination RTTs and the retry allowance."""

    settings: TimingSettings = field(default_factory=TimingSettings)
    overall: RttEstimator = field(default_factory=RttEstimator)
    hosts: dict[str, RttEstimator] = field(default_factory=dict)
    max_successful_retry: int = 0
    """Highest retry index (0 = first try) on which an answer ever came back."""
    answered: int = 0
    late: int = 0
    """Answers that came only on a retry: the share of these estimates the path's loss."""

    def observe(self, address: str, rtt: float | None, try_index: int, exact: bool = False) -> None:
        """Record an answer that came ``rtt`` seconds after try ``try_index``."""
        self.max_successful_retry = max(self.max_successful_retry, try_index)
        self.answered += 1
        if try_index:
            self.late += 1
        if rtt is None or rtt < 0:
            return
        self.overall.add(rtt, exact)
        hosts = self.hosts
        host = hosts.get(address)
        if host is None:
            if len(hosts) >= HOSTS_KEPT:
                # The longest-known hosts go: their probes are most likely over, and if
                # not, the run-wide estimate serves them (memory stays flat over 65,000
                # hosts). A quarter at once, into a new dict: deleting the oldest one at
                # a time leaves holes at the front that every next(iter()) walks again.
                hosts = self.hosts = dict(islice(hosts.items(), HOSTS_KEPT // 4, None))
            host = hosts[address] = RttEstimator()
        host.add(rtt, exact)

    def timeout_for(self, address: str) -> float:
        # srtt + 4 * rttvar of the host, else of the run, clamped (this runs for every try).
        s = self.settings
        host = self.hosts.get(address)
        if host is None or host.srtt is None:
            host = self.overall
            if host.srtt is None:
                return min(s.initial_timeout, s.max_timeout)
        estimate = host.srtt + 4 * host.rttvar
        return min(max(estimate, s.min_timeout), s.max_timeout)

    def allowed_retries(self) -> int:
        """Retries for a silent probe. nmap's rule (one more than the latest try that ever
        got an answer), raised on a lossy path until the chance that every try of a
        probe to an open port is lost falls below 1 in 100,000: with a first-try loss
        rate q, n tries all fail with probability q**n."""
        s = self.settings
        wanted = max(s.retries, self.max_successful_retry + 1)
        if self.answered >= _LOSS_SAMPLES:
            if self.late:
                wanted = max(wanted, _retries_for(min(0.9, self.late / self.answered)))
        elif s.assume_loss:
            # Too few answers to know the path: assume it loses packets until it proves
            # clean (a small run may never see enough answers to learn it).
            wanted = max(wanted, _retries_for(ASSUMED_LOSS))
        return min(s.max_retries, wanted)


def _retries_for(loss: float) -> int:
    """Retries after which every try of a probe is lost with a chance under _MISS_TARGET,
    when each try is lost with probability ``loss``: loss ** (retries + 1) < target."""
    return math.ceil(math.log(_MISS_TARGET) / math.log(loss)) - 1


class RateLimiter:
    """Token bucket: at most ``rate`` sends per second, in bursts of at most ``burst``."""

    def __init__(self, rate: float, now: Callable[[], float], burst: int | None = None) -> None:
        self.rate = rate
        self.now = now
        self.burst = float(burst if burst is not None else max(1, int(rate / 50)))
        self.tokens = self.burst
        self.stamp = now()

    def ready(self) -> float:
        """Seconds until a new probe may be admitted (0.0: now), without taking a token.
        New probes may run the bucket at most one burst into debt (a fiftieth of a second
        of sends), so the tries already under way (retries included) never queue longer
        than that behind first tries, and the sender is never left idle waiting for a
        timer between two tokens."""
        if self.rate <= 0:
            return 0.0
        tokens = min(self.burst, self.tokens + (self.now() - self.stamp) * self.rate)
        floor = 1 - self.burst
        return 0.0 if tokens >= floor else (floor - tokens) / self.rate

    def reserve(self) -> float:
        """Take one token; return how many seconds to wait before using it. Tokens may go
        negative: each caller takes its place in line at once and waits its own share, so
        concurrent callers are paced without polling (and without float round-off loops)."""
        if self.rate <= 0:
            return 0.0
        current = self.now()
        self.tokens = min(self.burst, self.tokens + (current - self.stamp) * self.rate)
        self.stamp = current
        self.tokens -= 1
        return -self.tokens / self.rate if self.tokens < 0 else 0.0
