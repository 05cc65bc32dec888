"""net/ is a leaf: it imports nothing of sepcheck outside net/, and loading a backend loads
neither pydantic nor the site model (so a backend starts fast and can be tested alone)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sepcheck.net

NET = Path(sepcheck.net.__file__).parent
ROOT = NET.parents[1]


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def test_no_module_of_net_imports_sepcheck_outside_net() -> None:
    modules = sorted(NET.rglob("*.py"))
    assert len(modules) > 10  # the walk found the package
    outside = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules
        for name in _imports(path)
        if name.startswith("sepcheck") and not name.startswith("sepcheck.net")
    }
    assert outside == set()


@pytest.mark.parametrize(
    "module", ["sepcheck.net.linux", "sepcheck.net.portable", "sepcheck.net.raw"]
)
def test_loading_a_backend_loads_neither_pydantic_nor_the_plan(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'pydantic' "
        "or (m.startswith('sepcheck') and not m.startswith('sepcheck.net') "
        "and m != 'sepcheck')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.split() == []
