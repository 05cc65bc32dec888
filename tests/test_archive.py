from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sepcheck.archive import Archive, host_tag

WHEN = datetime(2026, 11, 29, 3, 15, 0, tzinfo=UTC)


def test_names_share_a_stem_and_never_reuse_one(tmp_path: Path) -> None:
    archive = Archive(tmp_path, "sepm01")
    first = archive.new_names(["json", "prom"], WHEN)
    assert first == {
        "json": tmp_path / "sepcheck-20261129T031500Z-sepm01.json",
        "prom": tmp_path / "sepcheck-20261129T031500Z-sepm01.prom",
    }
    first["prom"].write_text("")  # one format of the same second is enough to move on
    second = archive.new_names(["json"], WHEN)
    assert second == {"json": tmp_path / "sepcheck-20261129T031500Z-sepm01.1.json"}
    second["json"].write_text("")
    (tmp_path / "sepcheck-20261129T031500Z-sepm01.json").write_text("")
    # Ordering: by time, then serial; the latest is the last written in that second.
    assert archive.latest("json") == second["json"]
    assert archive.reports("json")[0].name == "sepcheck-20261129T031500Z-sepm01.json"


def test_prune_keeps_the_newest_of_this_tag_only(tmp_path: Path) -> None:
    archive = Archive(tmp_path, "web-01")
    names = [f"sepcheck-2026110{d}T000000Z-web-01.json" for d in range(1, 5)]
    others = ["sepcheck-20261101T000000Z-web.json", "sepcheck-20261101T000000Z-web-01.md"]
    for name in names + others + ["sepcheck-web-01.json"]:
        (tmp_path / name).write_text("")
    removed = archive.prune(2, ["json"])
    assert sorted(p.name for p in removed) == names[:2]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*names[2:], *others, "sepcheck-web-01.json"])


def test_tags_are_safe_file_name_parts() -> None:
    assert host_tag("sepm01.example.test") == "sepm01_example_test"
    assert host_tag("pod/../x") == "pod_x"
    assert "." not in host_tag()
