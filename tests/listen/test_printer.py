"""The responder's event lines never block or stop it: a stderr that stalls or closes
costs lines (counted), never the responder (``cli/listen_run.LinePrinter``)."""

from __future__ import annotations

import io
import threading
import time

from sepcheck.cli.listen_run import LinePrinter


class Stalled(io.StringIO):
    """A stderr nobody reads: every write waits until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(10)
        return super().write(text)


class Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_stalled_stderr_never_blocks_and_lines_over_the_queue_are_counted() -> None:
    stream = Stalled()
    printer = LinePrinter(stream)
    started = time.monotonic()
    for n in range(LinePrinter.QUEUE + 500):
        printer.put(f"line {n}")
    assert time.monotonic() - started < 1.0
    assert printer.dropped >= 499
    stream.release.set()
    printer.close()
    assert stream.getvalue().startswith("line 0\n")


def test_a_closed_stderr_stops_the_lines_not_the_responder() -> None:
    printer = LinePrinter(Closed())
    for n in range(10):
        printer.put(f"line {n}")
    printer.close()
    assert printer.broken
    printer.put("after")  # nothing raised, nothing queued
    assert printer.lines.qsize() == 0
