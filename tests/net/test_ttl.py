from __future__ import annotations

import pytest

from sepcheck.net.ttl import judge_ttl, routers_crossed


@pytest.mark.parametrize(
    ("ttl", "crossed"), [(64, 0), (63, 1), (57, 7), (128, 0), (120, 8), (255, 0), (250, 5), (30, 2)]
)
def test_routers_crossed_from_the_nearest_initial_ttl(ttl: int, crossed: int) -> None:
    assert routers_crossed(ttl) == crossed


def test_reset_from_the_host_matches_its_reference() -> None:
    judged = judge_ttl("reset", 63, 63, "198.18.2.2")
    assert judged.forged is False
    assert judged.note == "reset (ttl 63, as the host's own replies)"


def test_reset_forged_one_hop_before_the_host() -> None:
    judged = judge_ttl("reset", 64, 63, "198.18.2.2")
    assert judged.forged is True
    assert judged.hops_before == 1
    assert judged.note.startswith("reset forged by a device 1 hop before 198.18.2.2")


def test_forger_with_another_initial_ttl_several_hops_before() -> None:
    # A Windows host 5 routers away (128 - 5) behind a firewall 2 routers away (255 - 2).
    judged = judge_ttl("reset", 253, 123, "198.18.2.2")
    assert (judged.forged, judged.hops_before) == (True, 3)
    assert "3 hops before" in judged.note


def test_reply_from_further_away_is_still_not_the_host() -> None:
    judged = judge_ttl("port-unreach", 60, 63, "fd00:2::2")
    assert judged.forged is True
    assert judged.hops_before is None
    assert "differs from the 63" in judged.note


@pytest.mark.parametrize(("ttl", "reference"), [(64, None), (None, 63)])
def test_without_a_reference_it_cannot_tell(ttl: int | None, reference: int | None) -> None:
    judged = judge_ttl("reset", ttl, reference, "198.18.2.2")
    assert judged.forged is None
    assert "cannot tell" in judged.note
