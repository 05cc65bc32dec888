"""probes/app.toml: the shipped definitions load, apply to the right flows, and a broken
file is a located error, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sepcheck.appcheck.definitions import Kind, load_app_checks
from sepcheck.errors import CatalogueError
from sepcheck.model import Protocol, Role

SHIPPED = load_app_checks()


@pytest.mark.parametrize(
    ("destination", "port", "name"),
    [
        (Role.MANAGER, 8014, "secars-hello"),
        (Role.MANAGER, 443, "secars-hello-https"),
        (Role.MANAGER, 8446, "sepm-rest-version"),
        (Role.MANAGER, 8443, "console-tls"),
        (Role.REPLICATION_PARTNER, 8443, "console-tls"),
        (Role.MANAGER, 8445, "reporting-tls"),
        (Role.MANAGER, 9090, "web-console"),
        (Role.GUP, 2967, "gup-proxy"),
        (Role.DATABASE, 1433, "sql-prelogin"),
        (Role.CLIENT, 445, "smb2-negotiate"),
        (Role.CLIENT, 22, "ssh-banner"),
    ],
)
def test_each_flow_of_the_issue_has_its_check(destination: Role, port: int, name: str) -> None:
    check = SHIPPED.find(destination, Protocol.TCP, port)
    assert check is not None
    assert check.name == name


def test_no_check_where_it_would_judge_another_product() -> None:
    # 443 to the cloud console or LiveUpdate is not a manager: "not SEPM" there is wrong.
    assert SHIPPED.find(Role.CLOUD_CONSOLE, Protocol.TCP, 443) is None
    assert SHIPPED.find(Role.LIVEUPDATE, Protocol.TCP, 443) is None
    assert SHIPPED.find(Role.MANAGER, Protocol.UDP, 8014) is None


def test_every_check_cites_its_source_and_sends_only_gets() -> None:
    for check in SHIPPED.checks:
        assert check.reference.strip(), check.name
        if check.kind is Kind.HTTP:
            assert check.path
            assert check.path.startswith("/")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "app.toml"
    path.write_text("schema = 1\n" + body)
    return path


BASE = """
[[check]]
name = "x"
service = "SEPM"
destinations = ["manager"]
ports = [8014]
description = "d"
reference = "r"
"""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (BASE + 'kind = "http"\n', "an http check needs a path"),
        (BASE + 'kind = "tls"\npath = "/"\n', "path only apply to kind 'http'"),
        (BASE + 'kind = "gopher"\n', "kind"),
        (BASE + 'kind = "ssh"\nsurprise = 1\n', "unknown key 'surprise'"),
        (BASE + 'kind = "ssh"\n' + BASE.replace('"x"', '"y"') + 'kind = "tls"\n', "two checks"),
        (BASE + 'kind = "ssh"\n' + BASE + 'kind = "tls"\n', "two checks are called 'x'"),
        (
            BASE + 'kind = "http"\npath = "/v"\nexpect_json = ["a"]\nversion_key = "b"\n',
            "version_key must be one of expect_json",
        ),
    ],
)
def test_a_broken_file_says_where_and_what(tmp_path: Path, body: str, words: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(CatalogueError) as info:
        load_app_checks(path)
    text = str(info.value)
    assert words in text, text
    assert str(path) in text
