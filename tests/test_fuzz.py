"""Whatever the input, the loaders give a result or a SepcheckError, never another exception.

Property-based (Hypothesis), bounded so that the suite stays quick. Random input alone
rarely gets past a parser, so most strategies start from something valid and break it:

* topology: random documents (as data, and written as TOML), documents shaped like a
  topology, the example site with values replaced, random or mutated text and bytes, and
  random hosts files;
* catalogue: random text, the shipped files with values replaced, mutated text;
* report: random JSON-ish text and JSON values, a real report with values replaced, and
  its text mutated.

Text mutations splice in the inputs of issue 12 (deep nesting, numbers too long to
convert, NaN, a byte-order mark, NUL) so that those paths are always exercised.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sepcheck.catalogue import Catalogue, load_catalogue
from sepcheck.errors import SepcheckError
from sepcheck.report.load import load_report
from sepcheck.report.writer import report_chunks, write_atomic
from sepcheck.topology import build_topology, load_topology
from tests.test_report import make_head

# A failing example can be large (a report, 5,000 brackets): Hypothesis warns when it
# prints one, and the warning, made an error by the pytest settings, would hide the failure.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
ROOT = Path(__file__).resolve().parents[1]
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SHIPPED = load_catalogue()
CATALOGUE_FILES = sorted((ROOT / "catalogue").glob("*.toml"))
SITE = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")

# --- building blocks -----------------------------------------------------------------

WORDS = [
    "name", "sep_version", "management_server_list", "features", "roles", "ports", "flows",
    "skip", "hosts", "host_files", "description", "os", "windows", "mac", "linux", "http",
    "https", "schema", "entry", "id", "row", "protocol", "port", "source", "destination",
    "purpose", "configurable", "versions", "tcp", "udp", "groups", "choose", "implies",
    "requires", "excludes", "all", "14.x", "14.3 RU8", "12.1.6 MP10", "14.3.1", "fourteen",
]  # fmt: skip
ROLES = ["manager", "client", "gup", "database", "clients", ""]
HOSTS = [
    "198.18.1.5", "198.18.1.0/28", "127.0.0.1/24", "198.18.3.5-9", "198.18.3.9-5",
    "fd00:18::5", "fe80::1%eth0", "::1%lo", "127.0.0.1:8443", "[fd00::1]", "[fd00::1]:443",
    "https://sepm01:8443", "sepm01.example.test", "198.18.0.0/8", "fd00::/64", "-bad-",
    "a[/x]", "", " ", "\x00",
]  # fmt: skip
HOST_FILES = ["clients.txt", "logo.png", "nope.txt", "", ".", "..", "/dev/null", "a\x00b"]
NASTY = [
    "[" * 5000,
    "{a=" * 5000,
    "x = " + "[" * 40 + "]" * 40 + "\n",
    "1" * 5000,
    "NaN",
    "-Infinity",
    "1e400",
    "\ufeff",
    "\x00",
    "\r",
    "\\u0000",
    '"\\ud800"',
]

# Values no generator writes, spliced into a document's text where a value goes: a
# document is mutated with a marker, dumped, and the marker's quoted form replaced.
RAW_TOML = [
    "[" * 5000 + "]" * 5000,
    "{a = " * 5000 + "1" + "}" * 5000,
    "[" * 40 + "]" * 40,
    "1" * 5000,
    "nan",
    "-inf",
    '"\\u0000"',
    "1979-05-27T07:32:00Z",
]
RAW_JSON = [
    "[" * 100_000 + "]" * 100_000,
    '{"a": ' * 5000 + "1" + "}" * 5000,
    "1" * 5000,
    "1" + "0" * 400,
    "NaN",
    "-Infinity",
    "1e400",
    "1.0",
    '"\\ud800"',
]


def markers(raw: list[str]) -> st.SearchStrategy[str]:
    return st.integers(0, len(raw) - 1).map(lambda index: f"@RAW{index}@")


def _splice(text: str, raw: list[str]) -> str:
    for index, value in enumerate(raw):
        text = text.replace(f'"@RAW{index}@"', value)
    return text


keys = st.one_of(st.sampled_from(WORDS + ROLES), st.text(max_size=8))
leaves = st.one_of(
    st.sampled_from(WORDS + HOSTS + HOST_FILES + sorted(SHIPPED.by_id)),
    st.text(max_size=20),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, max_size=6)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    controls = "".join(c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{controls}"'


def _toml(value: Any) -> str:
    """``value`` as a TOML value, tables inline (enough to reach the loaders' checks)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("-inf" if value < 0 else "inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _toml_document(document: dict[str, Any]) -> str:
    return "".join(f"{_toml_string(k)} = {_toml(v)}\n" for k, v in document.items())


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few slices replaced by random, syntax-looking or nasty text."""
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        patch = draw(
            st.text(max_size=12)
            | st.text("[]{}\"'=,.:#\n\\0123456789", max_size=12)
            | st.sampled_from(NASTY)
        )
        text = text[:start] + patch + text[end:]
    return text


@st.composite
def mutated_document(draw: st.DrawFn, document: Any, new: st.SearchStrategy[Any]) -> Any:
    """A copy of ``document`` with a few values, anywhere in it, replaced by one of
    ``new``, removed, or joined by one."""
    document = json.loads(json.dumps(document, default=str))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = document
        key: Any = None
        while True:
            if isinstance(node, dict) and node:
                key = draw(st.sampled_from(sorted(node)))
            elif isinstance(node, list) and node:
                key = draw(st.integers(0, min(len(node), 5) - 1))  # results come first
            else:
                break
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.integers(0, 3)) == 0:
                break
            node = child
        if key is None:
            continue
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            node[key] = draw(new)
        elif action == "remove":
            del node[key]
        elif isinstance(node, dict):
            node[draw(keys)] = draw(new)
        else:
            node.append(draw(new))
    return document


def _result_or_error(load: Any, *args: Any, **kwargs: Any) -> None:
    """Run ``load``: returning is fine, and so is a SepcheckError that the CLI can print
    (any other exception fails the test, with Hypothesis's smallest example)."""
    try:
        load(*args, **kwargs)
    except SepcheckError as exc:
        error = exc
    else:
        event("loaded")
        return
    # What was refused, in a few words (pytest --hypothesis-show-statistics): shows which
    # checks the strategies reach.
    gist = re.split(r"[:(']", error.message)[0].strip()
    event(f"{type(error).__name__}: {gist}")
    assert error.message
    assert str(error)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example (Hypothesis runs them one after the other), with the
    files generated host_files name: a good one and a binary one."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / "clients.txt").write_text("198.18.4.0/30\nwks01\n")
    (path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return path


# --- topology ------------------------------------------------------------------------

# Shaped like a topology, with values that are right in kind, so that generated documents
# reach the checks behind the first ones (hosts, host files, ports, features); random
# values anywhere come from `documents` and from the example site's mutations.
ENTRY_IDS = sorted(SHIPPED.by_id)
role_tables = st.fixed_dictionaries(
    {},
    optional={
        "hosts": st.lists(st.sampled_from(HOSTS) | st.text(max_size=16), max_size=4),
        "host_files": st.lists(st.sampled_from(HOST_FILES) | st.text(max_size=10), max_size=2),
        "os": st.sampled_from(["windows", "mac", "linux"]),
        "description": st.text(max_size=10),
    },
)
topologies = st.fixed_dictionaries(
    {
        "roles": st.dictionaries(
            st.sampled_from(["manager", "client", "gup"]), role_tables | st.lists(role_tables)
        )
    },
    optional={
        "name": st.text(max_size=10),
        "sep_version": st.sampled_from(["14.3 RU8", "12.1.6 MP10"]),
        "management_server_list": st.lists(st.sampled_from(["http", "https"]), min_size=1),
        "features": st.lists(st.sampled_from(sorted(SHIPPED.features)), max_size=1),
        "ports": st.dictionaries(st.sampled_from(ENTRY_IDS), st.integers(-5, 70000), max_size=2),
        "flows": st.fixed_dictionaries(
            {}, optional={"skip": st.lists(st.sampled_from(ENTRY_IDS) | st.text(max_size=8))}
        ),
    },
)


@BOUNDED
@given(document=documents | topologies | mutated_document(tomllib.loads(SITE), values))
def test_topology_documents(document: dict[str, Any], catalogue: Catalogue, folder: Path) -> None:
    """As data (build_topology, as for command-line hosts) and written as TOML."""
    site = folder / "site.toml"
    _result_or_error(build_topology, document, catalogue, path=site)
    site.write_text(_toml_document(document), encoding="utf-8")
    _result_or_error(load_topology, site, catalogue)


@BOUNDED
@given(
    text=st.text()
    | mutated_text(SITE)
    | mutated_document(tomllib.loads(SITE), markers(RAW_TOML)).map(
        lambda document: _splice(_toml_document(document), RAW_TOML)
    )
)
def test_topology_text(text: str, catalogue: Catalogue, folder: Path) -> None:
    site = folder / "site.toml"
    site.write_text(text, encoding="utf-8", newline="")
    _result_or_error(load_topology, site, catalogue)


@BOUNDED
@given(data=st.binary(max_size=200))
def test_topology_bytes(data: bytes, catalogue: Catalogue, folder: Path) -> None:
    site = folder / "site.toml"
    site.write_bytes(data)
    _result_or_error(load_topology, site, catalogue)


@BOUNDED
@given(
    lines=st.lists(st.sampled_from(HOSTS) | st.text(max_size=20), max_size=6),
    raw=st.binary(max_size=40),
)
def test_hosts_files(lines: list[str], raw: bytes, catalogue: Catalogue, folder: Path) -> None:
    (folder / "hosts.txt").write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + raw)
    site = folder / "site.toml"
    site.write_text('[roles.client]\nhost_files = ["hosts.txt"]\n')
    _result_or_error(load_topology, site, catalogue)


# --- catalogue -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalogue")
    for file in CATALOGUE_FILES:
        shutil.copy(file, path / file.name)
    return path


@BOUNDED
@given(text=st.text() | mutated_text("schema = 1\n[[entry]]\nid = 'a'\n"))
def test_catalogue_text(text: str, folder: Path) -> None:
    path = folder / "catalogue.toml"
    path.write_text(text, encoding="utf-8", newline="")
    _result_or_error(load_catalogue, path)


@BOUNDED
@given(
    data=st.data(),
    which=st.sampled_from(CATALOGUE_FILES),
    how=st.sampled_from(["values", "raw", "text"]),
)
def test_catalogue_mutated(
    data: st.DataObject, which: Path, how: str, catalogue_copy: Path
) -> None:
    """One shipped file changed, with the others beside it (they refer to each other)."""
    original = which.read_text(encoding="utf-8")
    if how == "text":
        changed = data.draw(mutated_text(original))
    else:
        new = values if how == "values" else markers(RAW_TOML)
        document = data.draw(mutated_document(tomllib.loads(original), new))
        changed = _splice(_toml_document(document), RAW_TOML)
    target = catalogue_copy / which.name
    target.write_text(changed, encoding="utf-8", newline="")
    try:
        _result_or_error(load_catalogue, catalogue_copy)
    finally:
        target.write_text(original, encoding="utf-8")


# --- reports -------------------------------------------------------------------------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["tcp", "udp", "open", "pass", "fail", "2026-11-29T02:41:57.123Z", "1"]),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
json_ish = st.text(alphabet='{}[]",:0123456789.eE-+ truefalsnNaIiy\\\n', max_size=80)


@pytest.fixture(scope="module")
def report(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("report")
    head, collector = make_head(catalogue, tmp_path)
    path = tmp_path / "base.json"
    write_atomic(path, report_chunks(head, collector.spools))
    collector.close()
    data: dict[str, Any] = json.loads(path.read_text())
    # A few results are enough to reach every field, and keep each example quick.
    data["results"] = data["results"][:5]
    return data


@BOUNDED
@given(text=st.text() | json_ish | json_values.map(json.dumps))
def test_report_text(text: str, folder: Path) -> None:
    path = folder / "report.json"
    path.write_text(text, encoding="utf-8")
    _result_or_error(load_report, path)


@BOUNDED
@given(data=st.data(), how=st.sampled_from(["values", "raw", "text"]))
def test_report_mutated(
    data: st.DataObject, how: str, report: dict[str, Any], folder: Path
) -> None:
    if how == "text":
        text = data.draw(mutated_text(json.dumps(report, indent=1)))
    elif how == "raw":
        text = _splice(json.dumps(data.draw(mutated_document(report, markers(RAW_JSON)))), RAW_JSON)
    else:
        text = json.dumps(data.draw(mutated_document(report, json_values)))
    path = folder / "report.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _result_or_error(load_report, path)
