from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sepcheck.errors import VersionError
from sepcheck.versions import SepVersion, parse_applicability, parse_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.1", SepVersion(12, 1)),
        ("12.1.6 MP10", SepVersion(12, 1, 6, 0, 10)),
        ("12.1 RU6 MP10", SepVersion(12, 1, 6, 0, 10)),
        ("14.2 RU2 MP1", SepVersion(14, 2, 0, 2, 1)),
        ("14.3 RU8", SepVersion(14, 3, 0, 8, 0)),
        ("14.3 MP1", SepVersion(14, 3, 0, 0, 1)),
        ("14 RU1", SepVersion(14, 0, 1)),
        ("14.0.1", SepVersion(14, 0, 1)),
        ("  14.3ru8 ", SepVersion(14, 3, 0, 8, 0)),
    ],
)
def test_release_names(text: str, expected: SepVersion) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("build", "release"),
    [
        ("14.3.9816.7000", "14.3 RU7"),
        ("14.2.5569.2100", "14.2 RU2 MP1"),
        ("14.3.1148.0100", "14.3 MP1"),
        ("14.0.3752.1000", "14.0.1"),
        ("12.1.7454.7000", "12.1.6 MP10"),
        ("12.1.6867.6400", "12.1.6 MP4"),
    ],
)
def test_build_numbers(build: str, release: str) -> None:
    version = parse_version(build)
    assert str(version) == release
    assert version == parse_version(release)
    assert version.build == build


def test_documented_order() -> None:
    chain = [
        "12.1",
        "12.1.5",
        "14.0",
        "14.0.1",
        "14.2",
        "14.3",
        "14.3 MP1",
        "14.3 RU1",
        "14.3 RU1 MP1",
        "14.3 RU2",
        "14.3 RU8",
    ]
    versions = [parse_version(v) for v in chain]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


@pytest.mark.parametrize(
    "bad", ["", "fourteen", "13.1", "14.3 RU", "14.3.x", "14.3 SP1", "12.1.5 RU6", "99"]
)
def test_unknown_version_is_an_error(bad: str) -> None:
    with pytest.raises(VersionError) as info:
        parse_version(bad)
    assert info.value.hint


@pytest.mark.parametrize(
    ("applies", "yes", "no"),
    [
        ("all", ["12.1", "14.3 RU8"], []),
        ("12.1.x", ["12.1", "12.1.6 MP10"], ["14.0", "12.0"]),
        ("12.1.5 and later", ["12.1.5", "12.1.6 MP10", "14.3"], ["12.1 RU4", "12.1"]),
        ("14.0.1 and later", ["14 RU1", "14.2"], ["14.0", "14.0 MP2", "12.1.6 MP10"]),
        ("14.2 and later", ["14.2", "14.3 RU8"], ["14.0.1 MP2"]),
        ("14.2.x only", ["14.2", "14.2 RU2 MP1"], ["14.3", "14.0.1"]),
        ("14.3 MP1 and later", ["14.3 MP1", "14.3 RU1"], ["14.3", "14.2 RU2 MP1"]),
        ("14.3 RU1 and later", ["14.3 RU1", "14.3 RU8"], ["14.3 MP1", "14.3"]),
        ("before 12.1.5", ["12.1 RU4"], ["12.1.5", "14.0"]),
    ],
)
def test_applicability(applies: str, yes: list[str], no: list[str]) -> None:
    rule = parse_applicability(applies)
    for text in yes:
        assert rule.applies_to(parse_version(text)), text
    for text in no:
        assert not rule.applies_to(parse_version(text)), text
    assert rule.applies_to(None)  # no version known: every entry applies


@pytest.mark.parametrize("bad", ["Toutes", "14.2 or later", "sometimes", "14.x", "and later"])
def test_unknown_applicability_is_an_error(bad: str) -> None:
    with pytest.raises(VersionError):
        parse_applicability(bad)


versions_st = st.one_of(
    st.builds(
        SepVersion, st.just(12), st.just(1), st.integers(0, 6), st.just(0), st.integers(0, 12)
    ),
    st.builds(
        SepVersion, st.just(14), st.just(0), st.integers(0, 1), st.just(0), st.integers(0, 5)
    ),
    st.builds(
        SepVersion,
        st.just(14),
        st.integers(1, 9),
        st.just(0),
        st.integers(0, 20),
        st.integers(0, 9),
    ),
)


@given(versions_st)
def test_name_round_trip(version: SepVersion) -> None:
    assert parse_version(str(version)) == version


@given(versions_st, versions_st)
def test_order_is_the_tuple_order(a: SepVersion, b: SepVersion) -> None:
    key = lambda v: (v.major, v.minor, v.patch, v.ru, v.mp)  # noqa: E731
    assert (a < b) == (key(a) < key(b))
    assert (parse_version(str(a)) <= parse_version(str(b))) == (key(a) <= key(b))


@given(st.integers(1, 9), st.integers(0, 20), st.integers(0, 9), st.integers(0, 9999))
def test_builds_order_like_releases(minor: int, ru: int, mp: int, build: int) -> None:
    version = parse_version(f"14.{minor}.{build}.{ru % 10}{mp}00")
    assert version == SepVersion(14, minor, 0, ru % 10, mp)


@given(versions_st, versions_st)
def test_and_later_matches_order(floor: SepVersion, version: SepVersion) -> None:
    rule = parse_applicability(f"{floor} and later")
    assert rule.applies_to(version) == (version >= floor)
