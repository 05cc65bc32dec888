"""Which backend a run uses (backends.choose): raw when asked, else SEPCHECK_BACKEND, else by
platform; a bad or overridden SEPCHECK_BACKEND is an error, never ignored."""

from __future__ import annotations

import sys

import pytest

from sepcheck.backends import choose
from sepcheck.errors import UsageError

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux default")


@linux_only
def test_linux_by_default_and_portable_when_asked() -> None:
    default = choose(False, {})
    assert (default.name, default.workers) == ("linux", True)
    portable = choose(False, {"SEPCHECK_BACKEND": " Portable "})
    assert (portable.name, portable.workers) == ("portable", False)
    assert type(portable.factory()).__name__ == "PortableBackend"
    assert choose(False, {"SEPCHECK_BACKEND": "linux"}).name == "linux"


def test_raw_mode_without_the_variable_is_raw() -> None:
    raw = choose(True, {})
    assert (raw.name, raw.workers) == ("raw", True)


@pytest.mark.parametrize("raw", [False, True])
def test_an_unknown_backend_is_refused_in_every_mode(raw: bool) -> None:
    with pytest.raises(UsageError) as info:
        choose(raw, {"SEPCHECK_BACKEND": "bogus"})
    assert info.value.message == "SEPCHECK_BACKEND='bogus': unknown backend"
    assert info.value.hint == "use one of: linux, portable (or leave it unset)"


def test_raw_mode_does_not_silently_override_the_variable() -> None:
    """It used to: --mode raw (or auto as root) ran raw and the report said so, while the
    user had asked for the portable backend."""
    with pytest.raises(UsageError) as info:
        choose(True, {"SEPCHECK_BACKEND": "portable"})
    assert "raw mode" in info.value.message
    assert info.value.hint == (
        "unset SEPCHECK_BACKEND for raw mode, or give --mode connect to use the portable backend"
    )


@linux_only
def test_workers_are_capped_by_the_run_and_the_backend() -> None:
    from sepcheck.workers import WORKER_SHARE, worker_count

    linux = choose(False, {})
    portable = choose(False, {"SEPCHECK_BACKEND": "portable"})
    assert worker_count(64, 7, linux) == 1  # 64 processes for 7 probes: one does it
    assert worker_count(4, 3 * WORKER_SHARE, linux) == 3
    assert worker_count(4, 3 * WORKER_SHARE + 1, linux) == 4
    assert worker_count(2, 100 * WORKER_SHARE, linux) == 2  # never more than asked
    assert worker_count(None, 7, linux) == 1
    assert worker_count(4, 100 * WORKER_SHARE, portable) == 1  # runs as off Linux
