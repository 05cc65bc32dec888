"""SEP versions: parse release names and build numbers, order them, match applicability.

Broadcom names releases ``12.1.6 MP10``, ``14.2 RU2 MP1``, ``14.3 RU8``, and the REST API
reports builds like ``14.3.9816.7000``. The port table says which releases an entry
applies to in words (``14.2 and later``, ``14.2.x only``, ...). This module turns both
into comparable values; text it does not understand is an error, never a silent "applies".

Naming history matters for the ordering: in the 12.1 and 14.0 lines a Release Update was
a third version number (``12.1 RU6`` is ``12.1.6``, ``14 RU1`` is ``14.0.1``); from 14.1
on, RU is a separate counter (``14.3 RU8``). Maintenance patches (MP) come after the
release they patch and before its next RU: ``14.3 < 14.3 MP1 < 14.3 RU1 < 14.3 RU1 MP1``.

Parsing is strict: only the lines the port table covers (12.1, 14.0, 14.2, 14.3) are
accepted, with the RUs they have (12.1.1 to 12.1.6, 14.0.1, 14.2 RU1 to RU2, 14.3 RU1 to
RU20 to leave room for future RUs) and MP1 to MP20. A third number after 14.1
(``14.3.1``) is not a release name, and SEP 11 is refused because the table does not
cover it: applying its entries to 11.x would be a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sepcheck.errors import VersionError

KNOWN_MAJORS = (12, 14)
"""Majors the port table covers (SEP 11 existed, but the table does not cover it)."""


@dataclass(frozen=True)
class _Line:
    """What a release line allows, and examples for its hints."""

    ru_as_patch: bool
    """True for 12.1 and 14.0, where "RU n" is the third version number."""
    max_ru: int
    """Highest RU (the third number, for 12.1 and 14.0) that the line has or may get."""
    example: str
    """A release name of the line, for hints."""
    build: str
    """A build number of the line, for hints."""


# The release lines Broadcom's port table covers. 12.1 ended with RU6 (12.1.6 MP10), 14.0
# with RU1 (14.0.1 MP2) and 14.2 with RU2 (14.2 RU2 MP1); 14.3 is still getting RUs, so it
# allows some beyond the latest known one.
_LINES: dict[tuple[int, int], _Line] = {
    (12, 1): _Line(True, 6, "12.1.6 MP10", "12.1.7454.7000"),
    (14, 0): _Line(True, 1, "14.0.1 MP2", "14.0.3752.1000"),
    (14, 2): _Line(False, 2, "14.2 RU2 MP1", "14.2.5569.2100"),
    (14, 3): _Line(False, 20, "14.3 RU8", "14.3.9816.7000"),
}
MAX_MP = 20
"""Highest Maintenance Patch accepted (the most any line shipped is 12.1.6 MP10)."""

_LINE_NAMES = "12.1, 14.0 (written '14'), 14.2 and 14.3"
_EXAMPLES_HINT = (
    "SEP releases are 12.1, 14.0, 14.2 and 14.3, e.g. '12.1.6 MP10', '14 RU1', "
    "'14.2 RU2 MP1', '14.3 RU8', or a build number like '14.3.9816.7000'"
)

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
    """Check the parts against the release lines and build the version.

    ``text`` is what the user wrote, for messages. Raises VersionError, always with a hint,
    for anything that is not a SEP release the port table covers.
    """
    _check_line(major, minor, text)
    spec = _LINES[(major, minor)]
    name = f"{major}.{minor}"
    if spec.ru_as_patch:
        if ru:
            if patch and patch != ru:
                raise VersionError(
                    f"SEP version {text!r} is contradictory: in the {name} line "
                    f"RU{ru} is {name}.{ru}, not {name}.{patch}",
                    hint=f"write '{name}.{ru}' or '{name} RU{ru}'",
                )
            patch, ru = ru, 0
        if patch > spec.max_ru:
            raise VersionError(
                f"SEP version {text!r} does not exist: {name} has "
                f"{_ru_names(major, minor, spec.max_ru)}, there is no {name}.{patch}",
                hint=f"write a {name} release such as '{spec.example}'"
                + (", or '14.2' for the next line" if (major, minor) == (14, 0) else ""),
            )
    else:
        if patch:
            suggested = patch if patch <= spec.max_ru else 1
            raise VersionError(
                f"SEP version {text!r} is not a release name: from 14.1 on, a Release "
                f"Update is 'RU n', so {name} has no third number",
                hint=f"write '{name} RU{suggested}', or a build number like '{spec.build}'",
            )
        if ru > spec.max_ru:
            last = (
                f"{name} ended with RU{spec.max_ru} ('{spec.example}')"
                if spec.max_ru < 20
                else f"sepcheck accepts {name} RU1 to RU{spec.max_ru}"
            )
            raise VersionError(
                f"SEP version {text!r} does not exist: {last}",
                hint=f"write a {name} release such as '{spec.example}'",
            )
    if mp > MAX_MP:
        raise VersionError(
            f"SEP version {text!r} does not exist: MP{mp} is beyond any Maintenance Patch "
            f"(sepcheck accepts MP1 to MP{MAX_MP})",
            hint=f"write a {name} release such as '{spec.example}'",
        )
    return SepVersion(major, minor, patch, ru, mp)


def _ru_names(major: int, minor: int, last: int) -> str:
    """``RU1 to RU6 (12.1.1 to 12.1.6)`` or ``only RU1 (14.0.1)``, for messages."""
    if last == 1:
        return f"only RU1 ({major}.{minor}.1)"
    return f"RU1 to RU{last} ({major}.{minor}.1 to {major}.{minor}.{last})"


def _check_line(major: int, minor: int, text: str) -> None:
    """Raise VersionError unless ``major.minor`` is a line the port table covers."""
    if major == 11:
        raise VersionError(
            f"SEP version {text!r} is not covered: Broadcom's port table covers SEP 12.1 and "
            "14.x only, not 11.x",
            hint="leave the SEP version out (no sep_version, no --sep-version) to apply every "
            "entry of the table, or upgrade to a supported release such as '14.3 RU8'",
        )
    if major not in KNOWN_MAJORS:
        raise VersionError(
            f"unknown SEP version {text!r}: major version {major} does not exist",
            hint=_EXAMPLES_HINT,
        )
    if (major, minor) not in _LINES:
        hint = _EXAMPLES_HINT
        if (major, minor) == (14, 1):
            hint = "14 RU1 is written '14.0.1' or '14 RU1'; the line after it is 14.2"
        elif (major, minor) == (12, 0):
            hint = "the 12.x line is 12.1, e.g. '12.1.6 MP10'"
        raise VersionError(
            f"unknown SEP version {text!r}: there is no {major}.{minor} release line, "
            f"the lines are {_LINE_NAMES}",
            hint=hint,
        )


def parse_version(text: str) -> SepVersion:
    """Parse a release name (``14.3 RU8``) or a build number (``14.3.9816.7000``).

    Only releases of the lines the port table covers (12.1, 14.0, 14.2, 14.3) are
    accepted; anything else raises VersionError with a hint.
    """
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
    for part in ("ru", "mp"):
        if g[part] is not None and int(g[part]) == 0:
            label = part.upper()
            raise VersionError(
                f"SEP version {text!r} is not a release name: {label}s count from 1, "
                f"there is no {label}0",
                hint=f"leave '{label}0' out: the release before {label}1 has no {label}",
            )
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
