"""sep_version = "auto": the SEP version read from the manager before planning.

The manager's REST API answers ``GET /sepm/api/v1/version`` without credentials (the
``sepm-rest-version`` check of probes/app.toml). The managers the topology names are asked
at once (single hosts only: a range is never swept for this), each within the probe
timeout; the first in the topology's order that answers with a version the catalogue
knows decides. When none does, the run plans every version's flows and says why.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from sepcheck.appcheck import interpret
from sepcheck.appcheck.definitions import AppChecks
from sepcheck.errors import VersionError
from sepcheck.hosts.specs import AddressSpec, HostSpec, NameSpec
from sepcheck.versions import SepVersion, parse_version

CHECK = "sepm-rest-version"
MAX_MANAGERS = 8
"""Managers asked at most (a site has one or a few; more would be a range)."""


@dataclass(frozen=True)
class Answer:
    host: str
    url: str
    version: str | None
    """The build read (14.3.9816.7000), or None when this manager gave none."""
    api_version: str | None
    why: str
    """In words: what was read, or why nothing was."""


@dataclass(frozen=True)
class Detection:
    version: SepVersion | None
    """The version to plan with; None when no manager gave one."""
    chosen: Answer | None
    answers: tuple[Answer, ...]

    @property
    def note(self) -> str:
        """What the plan's notes say about it."""
        if self.chosen is not None and self.version is not None:
            others = {a.version for a in self.answers if a.version and a is not self.chosen}
            differ = sorted(v for v in others if v != self.chosen.version)
            tail = f" (other managers answered {', '.join(differ)})" if differ else ""
            return (
                f"SEP version {self.version} read from the manager {self.chosen.host}"
                f" ({self.chosen.url}: {self.chosen.version}){tail}"
            )
        why = "; ".join(f"{a.host}: {a.why}" for a in self.answers) or (
            "no single manager host to ask: blocks and ranges are never asked"
        )
        return (
            "sep_version is auto but no manager's version was read "
            f"({why}): the flows of every SEP version are planned"
        )


def url_of(host: str, port: int) -> str:
    return f"https://{interpret.host_header(host, host, port, tls=True)}/sepm/api/v1/version"


def manager_hosts(specs: Iterable[HostSpec]) -> list[str]:
    """The single hosts among the manager specs (names and addresses), in order."""
    hosts = [spec.text for spec in specs if isinstance(spec, NameSpec | AddressSpec)]
    return hosts[:MAX_MANAGERS]


async def _ask(
    host: str, port: int, checks: AppChecks, timeout: float, family: int, agent: str
) -> Answer:
    check = checks.named(CHECK)
    if check is None:  # build_job refuses such definitions before asking anyone
        return Answer(host, url_of(host, port), None, None, f"no {CHECK!r} check defined")
    url = url_of(host, port)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            found = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
            address = str(found[0][4][0])
            finding = await interpret.run(check, host, address, port, user_agent=agent)
    except TimeoutError:
        return Answer(host, url, None, None, f"no answer within {timeout:g} s")
    except OSError as exc:
        return Answer(host, url, None, None, f"does not resolve ({exc.strerror or exc})")
    version = finding.read.get("version")
    api = finding.read.get("api_version")
    if finding.ok and isinstance(version, str):
        return Answer(host, url, version, api if isinstance(api, str) else None, "answered")
    return Answer(host, url, None, None, finding.detail)


async def _ask_all(
    hosts: list[str], port: int, checks: AppChecks, timeout: float, family: int, agent: str
) -> list[Answer]:
    return list(
        await asyncio.gather(*(_ask(h, port, checks, timeout, family, agent) for h in hosts))
    )


def detect_version(
    hosts: list[str],
    port: int,
    checks: AppChecks,
    *,
    timeout: float,
    family: int = socket.AF_UNSPEC,
    user_agent: str,
) -> Detection:
    """Ask each manager of ``hosts`` for its version on ``port`` (8446 unless the topology
    moved it); the first usable answer in the given order decides."""
    answers = asyncio.run(_ask_all(hosts, port, checks, timeout, family, user_agent))
    for answer in answers:
        if answer.version is None:
            continue
        try:
            version = parse_version(answer.version)
        except VersionError as exc:
            kept = Answer(
                answer.host, answer.url, None, None, f"answered {answer.version}: {exc.message}"
            )
            answers = [kept if a is answer else a for a in answers]
            continue
        return Detection(version, answer, tuple(answers))
    return Detection(None, None, tuple(answers))
