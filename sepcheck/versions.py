"""SEP versions: parse release names and build numbers, order them, match applicability.

Broadcom names releases ``12.1.6 MP10``, ``14.2 RU2 MP1``, ``14.3 RU8``, and the REST API
reports builds like ``14.3.9816.7000``. The port table says which releases an entry
applies to in words (``14.2 and later``, ``14.2.x only``, ...). This module turns both
into comparable values; text it does not understand is an error, never a silent "applies".

Naming history matters for the ordering: in the 12.1 and 14.0 lines a Release Update was
a third version number (``12.1 RU6`` is ``12.1.6``, ``14 RU1`` is ``14.0.1``); from 14.1
on, RU is a separate counter (``14.3 RU8``). Maintenance patches (MP) come after the
release they patch and before its next RU: ``14.3 < 14.3 MP1 < 14.3 RU1 < 14.3 RU1 MP1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sepcheck.errors import VersionError

KNOWN_MAJORS = (11, 12, 14)
# Lines where "RU n" is written as a third version number.
_RU_AS_PATCH = {(12, 1), (14, 0)}

_RELEASE_RE = re.compile(
    r"""^\s*(?:sep\s*)?
        (?P<major>\d{1,2})(?:\.(?P<minor>\d{1,2}))?(?:\.(?P<patch>\d{1,2}))?
        (?:\s*RU\s*(?P<ru>\d{1,2}))?
        (?:\s*MP\s*(?P<mp>\d{1,2}))?
        \s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_BUILD_RE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{1,5})\.(\d{4})\s*$")


@dataclass(frozen=True, order=True)
class SepVersion:
    """A SEP release, ordered by (major, minor, patch, ru, mp)."""

    major: int
    minor: int = 0
    patch: int = 0
    """Third number; for 12.1 and 14.0 this is also where "RU n" goes."""
    ru: int = 0
    """Release Update, for 14.1 and later."""
    mp: int = 0
    """Maintenance Patch."""
    build: str | None = field(default=None, compare=False)
    """The build number this version was decoded from, when it came from one."""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}"
        if self.patch:
            text += f".{self.patch}"
        if self.ru:
            text += f" RU{self.ru}"
        if self.mp:
            text += f" MP{self.mp}"
        return text

    def line(self) -> tuple[int, int]:
        """The (major, minor) release line, e.g. (14, 3)."""
        return (self.major, self.minor)


def _make(major: int, minor: int, patch: int, ru: int, mp: int, text: str) -> SepVersion:
    if major not in KNOWN_MAJORS:
        raise VersionError(
            f"unknown SEP version {text!r}: major version {major} does not exist",
            hint="SEP releases are 11.x, 12.x and 14.x, e.g. '12.1.6 MP10', '14.3 RU8'",
        )
    if (major, minor) in _RU_AS_PATCH and ru:
        if patch and patch != ru:
            raise VersionError(
                f"SEP version {text!r} is contradictory: in the {major}.{minor} line "
                f"RU{ru} is {major}.{minor}.{ru}, not {major}.{minor}.{patch}",
                hint=f"write '{major}.{minor}.{ru}' or '{major}.{minor} RU{ru}'",
            )
        patch, ru = ru, 0
    return SepVersion(major, minor, patch, ru, mp)


def parse_version(text: str) -> SepVersion:
    """Parse a release name (``14.3 RU8``) or a build number (``14.3.9816.7000``)."""
    build = _BUILD_RE.match(text)
    if build:
        return _from_build(text.strip(), *(int(g) for g in build.groups()))
    match = _RELEASE_RE.match(text)
    if not match:
        raise VersionError(
            f"cannot read SEP version {text!r}",
            hint="write a release name like '14.3 RU8', '14.2 RU2 MP1', '12.1.6 MP10' "
            "or a build number like '14.3.9816.7000'",
        )
    g = match.groupdict()
    return _make(
        int(g["major"]),
        int(g["minor"] or 0),
        int(g["patch"] or 0),
        int(g["ru"] or 0),
        int(g["mp"] or 0),
        text,
    )


def _from_build(text: str, major: int, minor: int, _build: int, tail: int) -> SepVersion:
    # The fourth field of a SEP build encodes RU*1000 + MP*100 (14.3.9816.7000 is 14.3 RU7,
    # 14.2.5569.2100 is 14.2 RU2 MP1, 14.0.3752.1000 is 14 RU1 = 14.0.1). The 12.1 line ran
    # out of digits: 12.1 RU6 MP10 shipped as 12.1.7454.7000, so 12.1 builds at 7000 and
    # above are RU6 MP10 and later.
    ru, mp = tail // 1000, (tail // 100) % 10
    if (major, minor) == (12, 1) and tail >= 7000:
        ru, mp = 6, 10 + (tail - 7000) // 100
    version = _make(major, minor, 0, ru, mp, text)
    return SepVersion(version.major, version.minor, version.patch, version.ru, version.mp, text)


@dataclass(frozen=True)
class Applicability:
    """Which releases a catalogue entry applies to: ``lower <= v < upper``."""

    text: str
    """The words as written in the catalogue (also what reports show)."""
    lower: SepVersion | None = None
    upper: SepVersion | None = None

    def applies_to(self, version: SepVersion | None) -> bool:
        """True when the entry applies to ``version`` (or when the version is unknown)."""
        if version is None:
            return True
        if self.lower is not None and version < self.lower:
            return False
        return not (self.upper is not None and version >= self.upper)

    def __str__(self) -> str:
        return self.text


_APPLIES_HINT = (
    "write 'all', 'X and later', 'before X', 'A.B.x' or 'A.B.x only' with X a SEP "
    "release such as '14.3 RU1'"
)


def parse_applicability(text: str) -> Applicability:
    """Parse the applicability words of a catalogue entry (English)."""
    words = " ".join(text.strip().split())
    low = words.lower()
    try:
        if low == "all":
            return Applicability(words)
        if low.endswith(" and later"):
            return Applicability(words, lower=parse_version(words[: -len(" and later")]))
        if low.startswith("before "):
            return Applicability(words, upper=parse_version(words[len("before ") :]))
        line = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.x(?: only)?", low)
        if line:
            major, minor = int(line.group(1)), int(line.group(2))
            lower = _make(major, minor, 0, 0, 0, words)
            return Applicability(words, lower=lower, upper=SepVersion(major, minor + 1))
    except VersionError as exc:
        raise VersionError(
            f"cannot read applicability {text!r}: {exc.message}", hint=_APPLIES_HINT
        ) from exc
    raise VersionError(f"cannot read applicability {text!r}", hint=_APPLIES_HINT)
