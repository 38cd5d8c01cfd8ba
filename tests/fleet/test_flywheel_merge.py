"""Field episodes merge only when they carry the base dataset's features; the demo fleet records the
cameras of the demo dataset so its field episodes can be merged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from physai.core.errors import ConfigError
from physai.demo.fleet import _base_cameras
from physai.fleet.flywheel import _check_features


def _info(root: Path, cams: dict[str, int]) -> Path:
    feats = {
        "observation.state": {"dtype": "float32", "shape": [38]},
        "action": {"dtype": "float32", "shape": [7]},
    }
    for c, s in cams.items():
        feats[f"observation.images.{c}"] = {"dtype": "video", "shape": [s, s, 3]}
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps({"features": feats}))
    return root


def test_mismatched_field_episode_is_refused_with_the_difference(tmp_path) -> None:
    base = _info(tmp_path / "base", {"scene": 128, "wrist": 128})
    same = _info(tmp_path / "same", {"wrist": 128, "scene": 128})
    _check_features([base, same])
    other = _info(tmp_path / "field", {"scene": 64})
    with pytest.raises(ConfigError, match=r"observation.images.scene.*observation.images.wrist.*--camera"):
        _check_features([base, same, other])


def test_demo_fleet_records_the_base_dataset_cameras(tmp_path) -> None:
    assert _base_cameras(tmp_path / "missing") == (("scene",), 64)
    assert _base_cameras(_info(tmp_path / "d", {"wrist": 96, "scene": 96})) == (("scene", "wrist"), 96)
    assert _base_cameras(_info(tmp_path / "e", {})) == ((), 64)
