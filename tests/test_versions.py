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
        ("14", SepVersion(14, 0)),
        ("14 MP2", SepVersion(14, 0, 0, 0, 2)),
        ("14.0.1 MP2", SepVersion(14, 0, 1, 0, 2)),
        ("12.1.6", SepVersion(12, 1, 6)),
        ("12.1 RU6", SepVersion(12, 1, 6)),
        ("14.2 MP1", SepVersion(14, 2, 0, 0, 1)),
        ("14.3 RU10", SepVersion(14, 3, 0, 10, 0)),
        ("14.3 RU20 MP20", SepVersion(14, 3, 0, 20, 20)),
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


def test_rus_sort_above_mps() -> None:
    assert parse_version("14.3 RU8") > parse_version("14.3 RU1") > parse_version("14.3 MP1")
    assert parse_version("14.3 MP1") > parse_version("14.3") > parse_version("14.2 RU2 MP1")
    assert parse_version("12.1 RU6 MP10") > parse_version("12.1.6") > parse_version("12.1.5")


def test_documented_order() -> None:
    chain = [
        "12.1",
        "12.1.5",
        "14.0",
        "14 MP1",
        "14.0 MP2",
        "14.0.1",
        "14.0.1 MP2",
        "14.2",
        "14.2 MP1",
        "14.2 RU1",
        "14.2 RU1 MP1",
        "14.2 RU2",
        "14.2 RU2 MP1",
        "14.3",
        "14.3 MP1",
        "14.3 RU1",
        "14.3 RU1 MP1",
        "14.3 RU2",
        "14.3 RU8",
        "14.3 RU10",
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
    ("bad", "message", "hint"),
    [
        # From 14.1 on, RU is a separate counter: a third number is not a release name.
        ("14.3.1", "14.3 has no third number", "write '14.3 RU1', or a build number like"),
        ("14.2.5", "14.2 has no third number", "'14.2.5569.2100'"),
        ("14.3.1 MP1", "no third number", "14.3 RU1"),
        # SEP 11 exists, but the port table does not cover it.
        ("11.0", "covers SEP 12.1 and 14.x only", "sep_version"),
        ("11 RU7", "covers SEP 12.1 and 14.x only", "apply every entry"),
        ("11.0.7200.1147", "covers SEP 12.1 and 14.x only", "upgrade"),
        # Release lines that never existed: the message or hint names the real ones.
        ("14.1", "no 14.1 release line, the lines are 12.1, 14.0", "'14.0.1' or '14 RU1'"),
        ("12", "no 12.0 release line", "12.1"),
        ("14.4", "the lines are 12.1, 14.0 (written '14'), 14.2 and 14.3", "14.3 RU8"),
        ("13.1", "major version 13 does not exist", "12.1, 14.0, 14.2 and 14.3"),
        ("14.1.100.1000", "no 14.1 release line", "14.0.1"),
        # RUs a line never had (12.1 ended with 12.1.6, 14.0 with 14.0.1, 14.2 with RU2).
        ("12.1.7", "there is no 12.1.7", "12.1.6 MP10"),
        ("12.1 RU7", "there is no 12.1.7", "12.1.6 MP10"),
        ("14.0.2", "there is no 14.0.2", "14.0.1 MP2"),
        ("14 RU2", "there is no 14.0.2", "14.2"),
        ("14.0.3752.2000", "there is no 14.0.2", "14.0.1 MP2"),
        ("14.2 RU3", "14.2 ended with RU2", "14.2 RU2 MP1"),
        ("14.3 RU21", "14.3 RU1 to RU20", "14.3 RU8"),
        ("14.3 MP21", "MP1 to MP20", "14.3 RU8"),
        ("12.1.7454.9900", "MP1 to MP20", "12.1.6 MP10"),
        ("14.3 RU0", "there is no RU0", "leave 'RU0' out"),
        ("14.3 MP0", "there is no MP0", "leave 'MP0' out"),
    ],
)
def test_not_a_covered_release_is_an_error(bad: str, message: str, hint: str) -> None:
    with pytest.raises(VersionError) as info:
        parse_version(bad)
    assert message in info.value.message
    assert info.value.hint is not None
    assert hint in info.value.hint


@pytest.mark.parametrize(
    ("applies", "yes", "no"),
    [
        ("all", ["12.1", "14.3 RU8"], []),
        ("12.1.x", ["12.1", "12.1.6 MP10"], ["14.0", "14.3 RU8"]),
        ("12.1.5 and later", ["12.1.5", "12.1.6 MP10", "14.3"], ["12.1 RU4", "12.1"]),
        ("14.0.1 and later", ["14 RU1", "14.2"], ["14.0", "14.0 MP2", "12.1.6 MP10"]),
        ("14.2 and later", ["14.2", "14.3 RU8"], ["14.0.1 MP2"]),
        ("14.2.x only", ["14.2", "14.2 RU2 MP1"], ["14.3", "14.0.1"]),
        ("14.3 MP1 and later", ["14.3 MP1", "14.3 RU1"], ["14.3", "14.2 RU2 MP1"]),
        ("14.3 RU1 and later", ["14.3 RU1", "14.3 RU8"], ["14.3 MP1", "14.3"]),
        ("before 12.1.5", ["12.1 RU4"], ["12.1.5", "14.0"]),
        ("before 14.3 RU1", ["14.3 MP1", "14.2 RU2 MP1"], ["14.3 RU1", "14.3 RU8"]),
        ("14.0.x", ["14", "14.0.1 MP2"], ["14.2", "12.1.6 MP10"]),
        ("14.3.x only", ["14.3", "14.3 RU20 MP20"], ["14.2 RU2 MP1"]),
        ("14.3.9816.7000 and later", ["14.3 RU7", "14.3 RU8"], ["14.3 RU6 MP1"]),
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


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("14.3.1 and later", "14.3 has no third number"),
        ("before 14.2.5", "14.2 has no third number"),
        ("11.0 and later", "12.1 and 14.x only"),
        ("14.1.x", "no 14.1 release line"),
        ("12.0.x only", "no 12.0 release line"),
        ("11.0.x", "12.1 and 14.x only"),
        ("12.1.7 and later", "there is no 12.1.7"),
    ],
)
def test_applicability_of_an_uncovered_release_is_an_error(bad: str, words: str) -> None:
    with pytest.raises(VersionError) as info:
        parse_applicability(bad)
    assert words in info.value.message
    assert info.value.hint


versions_st = st.one_of(
    st.builds(
        SepVersion, st.just(12), st.just(1), st.integers(0, 6), st.just(0), st.integers(0, 12)
    ),
    st.builds(
        SepVersion, st.just(14), st.just(0), st.integers(0, 1), st.just(0), st.integers(0, 5)
    ),
    st.builds(
        SepVersion, st.just(14), st.just(2), st.just(0), st.integers(0, 2), st.integers(0, 9)
    ),
    st.builds(
        SepVersion, st.just(14), st.just(3), st.just(0), st.integers(0, 20), st.integers(0, 20)
    ),
)


@given(versions_st)
def test_name_round_trip(version: SepVersion) -> None:
    assert parse_version(str(version)) == version


@given(versions_st, versions_st)
def test_order_is_the_tuple_order(a: SepVersion, b: SepVersion) -> None:
    def key(v: SepVersion) -> tuple[int, int, int, int, int]:
        return (v.major, v.minor, v.patch, v.ru, v.mp)

    assert (a < b) == (key(a) < key(b))
    assert (parse_version(str(a)) <= parse_version(str(b))) == (key(a) <= key(b))


@given(
    st.one_of(st.tuples(st.just(2), st.integers(0, 2)), st.tuples(st.just(3), st.integers(0, 9))),
    st.integers(0, 9),
    st.integers(0, 99999),
)
def test_builds_order_like_releases(line: tuple[int, int], mp: int, build: int) -> None:
    minor, ru = line
    version = parse_version(f"14.{minor}.{build}.{ru}{mp}00")
    assert version == SepVersion(14, minor, 0, ru, mp)


@given(st.integers(0, 1), st.integers(0, 9), st.integers(0, 99999))
def test_14_0_builds_put_the_ru_in_the_third_number(ru: int, mp: int, build: int) -> None:
    assert parse_version(f"14.0.{build}.{ru}{mp}00") == SepVersion(14, 0, ru, 0, mp)


@given(st.integers(0, 99999), st.integers(0, 9))
def test_builds_of_uncovered_releases_are_errors(build: int, mp: int) -> None:
    # 14.1 and 13.x never existed, 11.x is not covered, 14.0 stopped at RU1, 14.2 at RU2.
    for prefix, tail in [("14.1", 1), ("13.1", 1), ("11.0", 1), ("14.0", 2), ("14.2", 3)]:
        with pytest.raises(VersionError) as info:
            parse_version(f"{prefix}.{build}.{tail}{mp}00")
        assert info.value.hint


@given(versions_st, versions_st)
def test_and_later_matches_order(floor: SepVersion, version: SepVersion) -> None:
    rule = parse_applicability(f"{floor} and later")
    assert rule.applies_to(version) == (version >= floor)
