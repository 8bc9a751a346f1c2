"""Shared fixtures: synthetic datasets in the official layouts, and the real data if present."""
from __future__ import annotations

from pathlib import Path

import pytest

from synthetic import WRITERS, write_folder

# The real datasets live next to the repository: <repo>/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A data root holding every registered layout, written once. Do not modify it."""
    root = tmp_path_factory.mktemp("data")
    for write in WRITERS.values():
        write(root)
    return root


@pytest.fixture
def make_dataset(tmp_path):
    """``make_dataset(name, **kwargs) -> (root, folder)``: a fresh copy a test may damage."""
    def make(name: str, **kwargs):
        return tmp_path, WRITERS[name](tmp_path, **kwargs)
    return make


@pytest.fixture
def user_folder(tmp_path) -> Path:
    """A generic ``images/ masks/ fov/`` folder (see ``synthetic.write_folder``)."""
    return write_folder(tmp_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets (DRIVE, CHASE_DB1, HRF); skips the test where they are absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA
