"""The HTML report in a real browser: headless Chromium renders it, runs its filter script
and takes a screenshot; the test reads the rendered DOM, not only the file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sepcheck.catalogue import Catalogue
from sepcheck.render.html import html_chunks
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
    path.write_text("".join(html_chunks(head, collector.spools)))
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
