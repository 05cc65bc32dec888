from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sepcheck.errors import CatalogueError
from sepcheck.payloads import load_payloads

NBSTAT = (
    b"\x80\xf0\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    b"\x00\x00\x21\x00\x01"
)


def test_shipped_payloads() -> None:
    payloads = load_payloads()
    assert payloads.for_port(137).render(137) == NBSTAT  # the query nmap and PortQry send
    dgm = payloads.for_port(138).render(138)
    assert dgm[0] == 0x10  # DIRECT_UNIQUE datagram
    assert int.from_bytes(dgm[10:12], "big") == len(dgm) - 14  # DGM_LENGTH after header
    syslog = payloads.for_port(514).render(514, hostname="probe-host").decode()
    assert syslog.startswith("<13>1 20")
    assert " probe-host sepcheck " in syslog
    assert "reachability test of UDP 514" in syslog
    assert payloads.for_port(9999).name == "generic"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('name = "x"\nports = [1]\ndescription = "d"\nhex = "zz"\n', "hex digits"),
        ('name = "x"\nports = [1]\ndescription = "d"\n', "exactly one"),
        ('name = "x"\nports = [1]\ndescription = "d"\ntext = "{nope}"\n', "placeholder"),
        ('name = "x"\nports = [70000]\ndescription = "d"\nhex = "00"\n', "out of range"),
        ('name = "x"\nports = [1]\ndescription = "d"\nhex = "00"\n', "no generic"),
    ],
)
def test_broken_payload_files(write: Callable[[str, str], Path], body: str, words: str) -> None:
    path = write("udp.toml", "schema = 1\n[[payload]]\n" + body)
    with pytest.raises(CatalogueError, match=words) as info:
        load_payloads(path)
    assert info.value.location is not None
    assert info.value.location.path == path
