"""Fixtures for the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import make_dataset


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "ds"
    return root, make_dataset(root, [7, 4, 9])
