"""The responder's JSON report: what it listened on, what it skipped and why, and what it
saw. Field names are a public contract: add, never break (``schema_version`` changes only
on a breaking change). The token is never written, only its ``fingerprint``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sepcheck import __version__
from sepcheck.listen.events import Event, EventLog
from sepcheck.listen.session import SessionEnd
from sepcheck.listen.sockets import Bound
from sepcheck.report.model import Port, Timestamp, TransportProtocol
from sepcheck.report.writer import write_atomic

SCHEMA_VERSION = 1


class _Model(BaseModel):
    # Readers ignore fields they do not know: adding one is not a breaking change.
    model_config = ConfigDict(frozen=True, extra="ignore")


class ListeningPort(_Model):
    protocol: TransportProtocol
    port: Port
    families: list[Literal["ipv4", "ipv6"]]


class SkippedPort(_Model):
    protocol: TransportProtocol
    port: Port
    reason: Literal["in_use", "privileged", "error"]
    why: str


class Source(_Model):
    address: str
    port: int = Field(ge=0, le=65535)


class EventRecord(_Model):
    time: Timestamp
    protocol: TransportProtocol
    port: Port = Field(description="The local port it arrived on.")
    source: Source = Field(description="The source address and port the responder saw.")
    what: Literal["probe", "redirected", "query", "rate_limited"]
    aimed: int = Field(
        ge=0,
        le=65535,
        description="The port the message names: where a probe was aimed (another than "
        "`port`: redirected on the way), or the UDP port a query asks about.",
    )
    answered: bool
    seen: Source | None = Field(
        default=None, description="A query's: the source of the UDP probe asked about."
    )
    seen_port: int | None = Field(
        default=None, description="A query's: the port that UDP probe arrived on."
    )


class IgnoredCount(_Model):
    protocol: TransportProtocol
    port: Port
    count: int = Field(ge=0, description="Datagrams or connections without a valid token.")


class ListenReport(_Model):
    kind: Literal["sepcheck-listen"] = "sepcheck-listen"
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    tool_version: str
    hostname: str
    started: Timestamp
    finished: Timestamp
    complete: bool = Field(description="False when stopped before --for ended.")
    stopped_by: str | None = Field(description="The signal that stopped it early, if any.")
    duration: float = Field(description="--for, in seconds.")
    fingerprint: str = Field(description="Names the run's token without giving it away.")
    listening: list[ListeningPort]
    skipped: list[SkippedPort]
    counts: dict[str, int] = Field(description="Events by kind, those left out included.")
    events: list[EventRecord]
    events_left_out: int = Field(ge=0, description="Events past the cap, only counted.")
    ignored: list[IgnoredCount]
    refused_busy: int = Field(
        ge=0, description="TCP connections closed at once: too many at the same time."
    )


def timestamp(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _record(event: Event) -> EventRecord:
    seen = event.seen
    return EventRecord(
        time=timestamp(event.time),
        protocol=event.protocol.value,
        port=event.port,
        source=Source(address=event.source.address, port=event.source.port),
        what=event.what.value,
        aimed=event.aimed,
        answered=event.answered,
        seen=None if seen is None else Source(address=seen.source.address, port=seen.source.port),
        seen_port=None if seen is None else seen.port,
    )


def build_report(
    *,
    hostname: str,
    fingerprint: str,
    duration: float,
    bound: Bound,
    log: EventLog,
    end: SessionEnd,
) -> ListenReport:
    return ListenReport(
        tool_version=__version__,
        hostname=hostname,
        started=timestamp(end.started),
        finished=timestamp(end.finished),
        complete=end.complete,
        stopped_by=end.stopped_by,
        duration=duration,
        fingerprint=fingerprint,
        listening=[
            ListeningPort(
                protocol=each.protocol.value,
                port=each.port,
                families=[family.value for family in each.families],
            )
            for each in bound.listening
        ],
        skipped=[
            SkippedPort(protocol=s.protocol.value, port=s.port, reason=s.reason.value, why=s.why)
            for s in bound.skipped
        ],
        counts={what.value: count for what, count in sorted(log.counts.items())},
        events=[_record(event) for event in log.events],
        events_left_out=log.left_out,
        ignored=_ignored(log),
        refused_busy=sum(log.busy.values()),
    )


def _ignored(log: EventLog) -> list[IgnoredCount]:
    return [
        IgnoredCount(protocol=protocol.value, port=port, count=count)
        for (protocol, port), count in sorted(log.ignored.items())
    ]


def write_report(path: Path, report: ListenReport) -> None:
    """Write ``report`` to ``path`` atomically (report/writer.py): a reader, or a run
    killed while writing, never sees half a file."""
    write_atomic(path, iter([report.model_dump_json(indent=2) + "\n"]))


def load_report(path: Path) -> ListenReport:
    return ListenReport.model_validate_json(path.read_text(encoding="utf-8"))
