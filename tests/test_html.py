"""The HTML report in a real browser: headless Chromium renders it, runs its filter script
and takes a screenshot; the test reads the rendered DOM, not only the file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.model import Role
from sepcheck.plan import Probe
from sepcheck.render.html import RESULT_ROWS_SHOWN, html_chunks
from sepcheck.report.model import ReportHead
from sepcheck.report.rows import SpooledRows
from sepcheck.results import Stage, State
from tests.test_formats_consumers import make_run
from tests.test_report import make_head

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(catalogue: Catalogue, tmp_path: Path) -> Path:
    head, collector = make_head(catalogue, tmp_path)
    path = tmp_path / "report.html"
    path.write_text("".join(html_chunks(head, SpooledRows.of(collector.spools))))
    collector.close()
    return path


def test_self_contained(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched
    assert "<style>" in text
    assert "<script>" in text
    assert text.count('data-kind="flow"') == 7


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_renders_and_filters_in_a_browser(page: Path, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", f"{page.as_uri()}#state=filtered", tmp_path=tmp_path).stdout
    rows = re.findall(r'<tr [^>]*data-kind="flow"[^>]*>', dom)
    assert len(rows) == 7
    visible = [r for r in rows if "display: none" not in r]
    hidden = [r for r in rows if "display: none" in r]
    # The script ran in the browser: flows without a filtered probe are hidden.
    assert visible
    assert hidden
    assert all("filtered" in r for r in visible)
    assert not any('data-states="open"' in r for r in visible)
    assert re.search(r'<span id="shown">\s*' + str(len(visible)), dom)
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,900", page.as_uri(), tmp_path=tmp_path)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 20_000  # a rendered table, not a blank page


def render(catalogue: Catalogue, tmp_path: Path, **run: Any) -> tuple[ReportHead, str]:
    head, collector = make_run(catalogue, tmp_path, **run)
    text = "".join(html_chunks(head, SpooledRows.of(collector.spools)))
    collector.close()
    return head, text


def probe_rows(text: str) -> list[str]:
    """The verdict of each probe row, in page order."""
    return re.findall(r'<tr class="(\w+)" data-kind="probe"', text)


def test_failing_rows_come_first_when_capped(catalogue: Catalogue, tmp_path: Path) -> None:
    """4,094 clients: 16,379 results. Every SMB push fails; in spool order the 4,094
    NetBIOS-session results come first, so a cut in that order would show 906 failures."""

    def state(i: int, probe: Probe) -> State:
        if probe.flow == "manager-client-push-smb":
            return State.FILTERED  # fail
        if probe.flow == "manager-client-push-netbios-dgm" and i % 10 == 0:
            return State.FILTERED  # only a warning: NetBIOS is a fallback
        return State.OPEN

    head, text = render(
        catalogue,
        tmp_path,
        hosts={Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.0/20"]},
        state=state,
    )
    verdicts = head.summary.verdicts
    assert sum(verdicts.values()) > RESULT_ROWS_SHOWN
    rows = probe_rows(text)
    assert len(rows) == RESULT_ROWS_SHOWN
    assert rows.count("fail") == verdicts["fail"] == 4094
    assert rows.count("warn") == verdicts["warn"] > 0
    order = {"fail": 0, "warn": 1, "pass": 2}
    assert rows == sorted(rows, key=order.__getitem__)
    left = verdicts["pass"] - rows.count("pass")
    assert (
        f"5,000 of {sum(verdicts.values()):,} probe results shown, failing first; "
        f"left out: {left:,} pass." in text
    )


def test_all_rows_without_a_note_when_small(catalogue: Catalogue, tmp_path: Path) -> None:
    head, text = render(catalogue, tmp_path)
    assert len(probe_rows(text)) == sum(head.summary.verdicts.values())
    assert "left out" not in text


def test_warning_note_is_shown(catalogue: Catalogue, tmp_path: Path) -> None:
    """Refused before installation: a warning, and its reason is the note."""
    _, text = render(
        catalogue,
        tmp_path,
        hosts={Role.MANAGER: ["198.18.2.2"], Role.CLIENT: ["198.18.16.1"]},
        state=lambda i, p: State.REFUSED,
        stage=Stage.PRE_INSTALL,
    )
    flow_row = re.search(r'<tr class="warn" data-kind="flow".*?manager-client-push-smb.*', text)
    assert flow_row is not None
    assert "path open, nothing listening" in flow_row.group()
    probe_row = re.search(r'<tr class="warn" data-kind="probe".*?manager-client-push-smb.*', text)
    assert probe_row is not None
    assert "<td>path open, nothing listening</td>" in probe_row.group()


def test_interrupted_or_empty_run_never_says_pass(catalogue: Catalogue, tmp_path: Path) -> None:
    def heading(**run: Any) -> str:
        _, text = render(catalogue, tmp_path, **run)
        found = re.search(r'<h1 id="verdict" class="(\w+)">([^<]*)</h1>', text)
        title = re.search(r"<title>([^<]*)</title>", text)
        assert found is not None
        assert title is not None
        assert title.group(1) == found.group(2)
        return f"{found.group(1)}: {found.group(2)}"

    assert heading() == "pass: sepcheck PASS: h"
    assert heading(complete=False, measured=5) == "warn: sepcheck INTERRUPTED: h"
    assert heading(roles=(Role.DATABASE,)) == "warn: sepcheck NOTHING CHECKED: h"
