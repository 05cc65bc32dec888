"""The report formats: one registry for stdout (``check --format``), report files named by
their extension (``--output``) and the reports folder (``--output-dir-format``).

Every format but the table can go to a file; ``file_chunks`` renders one, its dispatch
ending in ``assert_never``, so a format added to ``ReportFormat`` without a renderer fails
the type check instead of falling through to another format. Renderers of the formats a
run rarely writes are imported when one is written, not when sepcheck starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, assert_never

if TYPE_CHECKING:
    # The renderers and the report's model are loaded when a report is written: the
    # command line reads the enums here while it is built (`--help` included).
    from sepcheck.report.model import ReportHead


class ReportFormat(StrEnum):
    """What ``check --format`` puts on stdout."""

    TABLE = "table"
    JSON = "json"
    JUNIT = "junit"
    PROMETHEUS = "prometheus"
    MARKDOWN = "markdown"
    HTML = "html"


FileFormat = Literal[
    ReportFormat.JSON,
    ReportFormat.JUNIT,
    ReportFormat.PROMETHEUS,
    ReportFormat.MARKDOWN,
    ReportFormat.HTML,
]
"""The formats a report file can have: all but the table, which is for the terminal."""


class Extension(StrEnum):
    """The file extension of each file format (``--output-dir-format`` takes these)."""

    JSON = "json"
    XML = "xml"
    PROM = "prom"
    MD = "md"
    HTML = "html"


@dataclass(frozen=True)
class FileKind:
    format: FileFormat
    extension: Extension
    kind: str = ""
    """What the extension stands for, where it does not say it itself (in hints)."""


FILE_KINDS = (
    FileKind(ReportFormat.JSON, Extension.JSON),
    FileKind(ReportFormat.JUNIT, Extension.XML, "JUnit"),
    FileKind(ReportFormat.PROMETHEUS, Extension.PROM, "Prometheus"),
    FileKind(ReportFormat.MARKDOWN, Extension.MD, "Markdown"),
    FileKind(ReportFormat.HTML, Extension.HTML),
)
"""The registry: each file format with its extension, in the order hints list them."""

_BY_EXTENSION = {f".{kind.extension.value}": kind.format for kind in FILE_KINDS}


def format_of_extension(extension: str) -> FileFormat | None:
    """The format a file name's extension (``.xml``, any case) asks for; None if unknown."""
    return _BY_EXTENSION.get(extension.lower())


def file_format(extension: Extension) -> FileFormat:
    """The format of a file with this extension (the registry has every one)."""
    return _BY_EXTENSION[f".{extension.value}"]


def extensions_hint() -> str:
    """The known extensions in words: '.json, .xml (JUnit), ... or .html'."""
    names = [
        f".{kind.extension.value}" + (f" ({kind.kind})" if kind.kind else "") for kind in FILE_KINDS
    ]
    return ", ".join(names[:-1]) + " or " + names[-1]


def file_chunks(fmt: FileFormat, head: ReportHead, spools: Sequence[Path]) -> Iterator[str]:
    """The report in ``fmt``, as text chunks streamed from the run's spools."""
    from sepcheck.report.rows import SpooledRows

    match fmt:
        case ReportFormat.JSON:
            from sepcheck.report.writer import report_chunks

            return report_chunks(head, spools)
        case ReportFormat.JUNIT:
            from sepcheck.render.junit import junit_chunks

            return junit_chunks(head, SpooledRows.of(spools))
        case ReportFormat.PROMETHEUS:
            from sepcheck.render.prometheus import prometheus_chunks

            return prometheus_chunks(head, SpooledRows.of(spools))
        case ReportFormat.MARKDOWN:
            from sepcheck.render.markdown import markdown_report

            return iter([markdown_report(head)])
        case ReportFormat.HTML:
            from sepcheck.render.html import html_chunks

            return html_chunks(head, SpooledRows.of(spools))
        case _:
            assert_never(fmt)
