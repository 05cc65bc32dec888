"""A fast start: commands import only what they need. Measured by bench/startup.py; here
the behaviour behind the figures: which modules a command loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sepcheck import __version__

ROOT = Path(__file__).resolve().parents[1]


def loaded_by(*argv: str) -> tuple[str, set[str]]:
    """What ``sepcheck ARGV`` prints, and the modules it loaded."""
    code = (
        "import sys\n"
        f"sys.argv = ['sepcheck', *{list(argv)!r}]\n"
        "from sepcheck.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return done.stdout, set(done.stderr.split())


def test_version_needs_no_command_line_library() -> None:
    out, modules = loaded_by("--version")
    assert out == f"sepcheck {__version__}\n"
    assert "typer" not in modules
    assert "rich" not in modules
    assert "pydantic" not in modules
