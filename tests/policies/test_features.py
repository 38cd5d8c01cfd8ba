"""State features: heading sin/cos from quaternions and '.yaw' scalars, dropping named elements."""

import math

import numpy as np
import torch

from physai.policies import load_policy, make_policy
from physai.policies.features import StateFeatures, heading_sources
from physai.policies.spec import STATE, IOSpec

NAMES = ["ee.pos.x", "obj.quat.w", "obj.quat.x", "obj.quat.y", "obj.quat.z", "box.yaw",
         "left/wrist.force.x", "left/wrist.torque.z"]


def _state(yaw_q: float, yaw_b: float) -> torch.Tensor:
    return torch.tensor([[0.3, math.cos(yaw_q / 2), 0.0, 0.0, math.sin(yaw_q / 2), yaw_b, 5.0, -1.0]])


def test_heading_sources_finds_complete_quaternions_and_yaws():
    quats, yaws = heading_sources(NAMES + ["half.quat.w"])
    assert quats == [[1, 2, 3, 4]] and yaws == [5]


def test_features_are_headings_and_their_double_and_drop_excluded_names():
    f = StateFeatures(NAMES, angles=True, exclude=["wrist.force", "wrist.torque"])
    raw = _state(0.7, -1.2)
    out = f(raw, raw * 10)
    assert f.out_dim == 6 + 8 and out.shape == (1, 14)
    np.testing.assert_allclose(out[0, :6], (raw * 10)[0, :6])
    a = np.array([0.7, -1.2])
    want = np.concatenate([np.sin(a), np.cos(a), np.sin(2 * a), np.cos(2 * a)])
    np.testing.assert_allclose(out[0, 6:].numpy(), want, atol=1e-5)
    # an object turned by pi looks the same through the doubled angle (symmetric grasps)
    flipped = f(_state(0.7 + math.pi, -1.2), raw)
    np.testing.assert_allclose(flipped[0, 10:12], out[0, 10:12], atol=1e-5)
    np.testing.assert_allclose(flipped[0, 12:], out[0, 12:], atol=1e-5)


def test_identity_without_options():
    f = StateFeatures(NAMES)
    x = torch.randn(3, len(NAMES))
    assert f.out_dim == len(NAMES) and f(x, x * 2).equal(x * 2)


def test_policy_with_features_round_trips_and_old_configs_load_raw(tmp_path):
    import json

    spec = IOSpec("toy", NAMES, ["a0", "a1"])
    pol = make_policy("act", [spec], None, d_model=16, n_heads=2, ff_dim=32, chunk_size=4, n_action_steps=2)
    assert pol.config.angle_features and pol.state_in_dim() == 14
    pol.eval().save(tmp_path / "new")
    batch = {STATE: _state(0.3, 0.1)}
    assert torch.equal(load_policy(tmp_path / "new").predict_chunk(batch), pol.predict_chunk(batch))
    raw = make_policy("act", [spec], None, d_model=16, n_heads=2, ff_dim=32, chunk_size=4, n_action_steps=2,
                      angle_features=False, exclude_state=None)
    raw.eval().save(tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    for k in ("angle_features", "exclude_state"):  # a checkpoint written before these options existed
        doc["config"].pop(k)
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    old = load_policy(tmp_path / "old")
    assert old.state_in_dim() == len(NAMES)
    assert torch.equal(old.predict_chunk(batch), raw.predict_chunk(batch))
