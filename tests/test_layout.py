"""Tables never crop meaning: at any width every word is printed whole, or the rows
become blocks (sepcheck catalogue at 160 columns used to drop "not" from "must not be
reachable"; at 80 it hid the port column)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from sepcheck.catalogue import Catalogue
from sepcheck.model import Role
from sepcheck.plan import Plan, Vantage, build_plan
from sepcheck.render.catalogue import catalogue_view
from sepcheck.render.matrix import matrix_table
from sepcheck.render.plan import plan_view, skipped_view
from sepcheck.topology import load_topology

WIDTHS = [60, 80, 100, 120, 160, 200, 260]


def render(renderable: RenderableType, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


def tokens(text: str) -> list[str]:
    """Words as printed, without the table's rules."""
    return re.split(r"[\s│┃┆]+", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_catalogue_keeps_every_word(catalogue: Catalogue, width: int) -> None:
    text = render(catalogue_view(list(catalogue), "SEP flows", width), width)
    assert max(len(line) for line in text.splitlines()) <= width
    printed = tokens(text)
    for entry in catalogue:
        assert entry.id in printed, entry.id
        assert f"{entry.protocol}/{entry.port}" in printed, entry.id
        for word in entry.purpose.split():
            assert word in printed, (entry.id, word)


@pytest.mark.parametrize("width", WIDTHS)
def test_plan_keeps_every_word(
    catalogue: Catalogue, write: Callable[[str, str], Path], width: int
) -> None:
    site = write(
        "site.toml",
        'features = ["windows_push"]\n[roles.manager]\nhosts = ["sepm01.example.test"]\n'
        '[roles.client]\nhosts = ["198.18.16.0/20", "fd00:18::5", '
        '"workstation-0042.branch-office.example.test"]\n',
    )
    topology = load_topology(site, catalogue)
    _check_plan(build_plan(catalogue, topology, Vantage((Role.CLIENT,))), width)
    printed = _check_plan(build_plan(catalogue, topology, Vantage((Role.MANAGER,))), width)
    assert "4,094" in " ".join(printed)


def _check_plan(plan: Plan, width: int) -> list[str]:
    text = render(plan_view(plan, width), width)
    assert max(len(line) for line in text.splitlines()) <= width
    printed = tokens(text)
    for flow in plan.flows:
        assert flow.entry.id in printed
        assert f"{flow.entry.protocol}/{flow.port}" in printed
        for spec in flow.specs:
            assert spec.text in printed, (width, spec.text)
    exposures = sum(len(f.specs) for f in plan.flows if f.entry.expect.value == "unreachable")
    assert printed.count("must") == exposures  # "must not reach", never cut short
    skipped = skipped_view(plan, width)
    assert skipped is not None
    words = " ".join(tokens(render(skipped, width)))
    for item in plan.skipped:
        assert " ".join(item.detail.split()) in words, item.entry.id
    return printed


@pytest.mark.parametrize("width", WIDTHS)
def test_matrix_keeps_flow_ids_whole(catalogue: Catalogue, tmp_path: Path, width: int) -> None:
    from tests.test_report import make_head

    head, collector = make_head(catalogue, tmp_path)
    collector.close()
    text = render(matrix_table(head, width), width)
    assert max(len(line) for line in text.splitlines()) <= width
    printed = tokens(text)
    for flow in head.summary.flow_results:
        assert flow.flow in printed, (width, flow.flow)
        assert f"{flow.protocol}/{flow.port}" in printed


def test_a_long_host_list_is_one_row_per_flow(
    catalogue: Catalogue, write: Callable[[str, str], Path]
) -> None:
    """2,000 clients listed one by one: a row per flow naming the first few (the table
    used to take 4 ms a host to render, 11.7 s for 2,000)."""
    hosts = ", ".join(f'"198.18.{i // 250}.{i % 250 + 1}"' for i in range(2000))
    site = write(
        "site.toml",
        f'features = ["windows_push"]\n[roles.manager]\nhosts = ["198.18.200.1"]\n'
        f"[roles.client]\nhosts = [{hosts}]\n",
    )
    plan = build_plan(catalogue, load_topology(site, catalogue), Vantage((Role.MANAGER,)))
    text = render(plan_view(plan, 200), 200)
    assert text.count("and 1,997 more entries") == 4
    assert len(text.splitlines()) < 20
