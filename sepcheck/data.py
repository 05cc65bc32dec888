"""Where the data folders (catalogue/, probes/, examples/) are, installed or not.

In a wheel they are copied to ``sepcheck/_data/`` (see pyproject's force-include). In a
source checkout they sit at the top of the repository, next to the package. Looking in
that order means a test run from the checkout and an installed copy read the same files.
"""

from __future__ import annotations

from pathlib import Path

# The package's own folder: what importlib.resources.files("sepcheck") gives for a package
# on disk (the only kind sepcheck is installed as), without importing importlib.resources
# at every start.
_PACKAGE_DIR = Path(__file__).parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``catalogue``, ``probes`` or ``examples``)."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"sepcheck data folder {name!r} is missing from {installed} and {checkout}; "
        "the installation is incomplete: reinstall sepcheck"
    )
