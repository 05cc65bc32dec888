"""Shared fixtures: the shipped catalogue and a helper to write topology files."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sepcheck.catalogue import Catalogue, load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def loopback_manager() -> Iterator[int]:
    """A listener on 127.0.0.1:8014 (the client-manager HTTP flow) if the port is free."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", 8014))
    except OSError:
        server.close()
        pytest.skip("127.0.0.1:8014 is in use")
    server.listen(16)
    yield 8014
    server.close()
