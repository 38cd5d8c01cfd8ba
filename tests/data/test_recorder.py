"""Recorder over a real env: features from the env, expert episodes kept, failures discarded."""

from __future__ import annotations

import numpy as np

import physai.envs as envs
from physai.data import Dataset, Recorder


def test_recorder_features_and_keep_policy(tmp_path):
    env = envs.make(
        "tabletop/pick-place", obs=("state", "images"), cameras=["wrist"], image_size=(32, 32), max_steps=6
    )
    with Recorder(env, tmp_path / "ds") as rec:
        failed = rec.record(envs.RandomPolicy(env, seed=0), seed=0)
        assert not failed.kept and failed.length == 6
        rec.keep_failures = True
        kept = rec.record(envs.RandomPolicy(env, seed=1), seed=1, realtime=False)
        assert kept.kept and kept.episode_index == 0
    env.close()
    ds = Dataset(tmp_path / "ds")
    assert len(ds) == 6 and ds.meta.info["robot_type"] == env.robot.name
    assert ds.meta.info["physai"] == {
        "task": "tabletop/pick-place",
        "control_mode": env.control,
        "cameras": ["wrist"],
        "privileged": True,
    }
    assert ds.features["observation.state"]["names"] == list(env.state_names)
    assert ds.features["action"]["names"] == list(env.action_spec.names)
    assert ds.features["observation.images.wrist"]["info"]["video.codec"] == "h264"
    assert ds[0]["task"] == kept.instruction and ds[0]["observation.images.wrist"].shape == (3, 32, 32)
    assert not bool(ds[5]["next.success"])
    assert np.all(np.isfinite(ds.stats["observation.state"]["mean"]))
