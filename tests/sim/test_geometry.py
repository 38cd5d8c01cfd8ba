"""Quaternion heading and grasp yaw: one implementation, checked against MuJoCo's own rotations."""

import math

import mujoco
import numpy as np
import pytest
import torch

from physai.sim.geometry import grasp_yaw, quat_yaw, quat_yaw_batch, yaw_wxyz


def _quat(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """wxyz of intrinsic z-y-x (yaw, pitch, roll), composed with MuJoCo."""
    out = np.empty(4)
    qz, qy, qx = (np.array([math.cos(a / 2), *(math.sin(a / 2) * np.eye(3)[i])]) for i, a in
                  ((2, yaw), (1, pitch), (0, roll)))
    tmp = np.empty(4)
    mujoco.mju_mulQuat(tmp, qz, qy)
    mujoco.mju_mulQuat(out, tmp, qx)
    return out


@pytest.mark.parametrize("yaw", [-3.0, -1.2, 0.0, 0.4, 2.9])
def test_heading_of_a_tilted_quaternion_is_its_yaw(yaw):
    q = _quat(yaw, pitch=0.3, roll=-0.2)
    assert quat_yaw(q) == pytest.approx(yaw, abs=1e-9)
    assert quat_yaw(list(q)) == quat_yaw(q) == yaw_wxyz(*q.tolist())


def test_batch_heading_matches_for_numpy_and_torch():
    yaws = np.array([-2.5, -0.3, 0.0, 1.0, 3.0])
    q = np.stack([_quat(y, 0.1, 0.2) for y in yaws])
    np.testing.assert_allclose(quat_yaw_batch(q), yaws, atol=1e-9)
    np.testing.assert_allclose(quat_yaw_batch(q[None]), yaws[None], atol=1e-9)  # any leading axes
    got = quat_yaw_batch(torch.from_numpy(q))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), yaws, atol=1e-9)


def test_grasp_yaw_is_the_smallest_equivalent_turn():
    for yaw in np.linspace(-7, 7, 57):
        g = grasp_yaw(yaw, np.pi / 2)
        assert -np.pi / 4 <= g < np.pi / 4
        k = (yaw - g) / (np.pi / 2)
        assert abs(k - round(k)) < 1e-9  # differs from the object heading by whole symmetry turns
    assert grasp_yaw(3.0, np.pi) == pytest.approx(3.0 - np.pi)
    assert grasp_yaw(2.0, 0.0) == 0.0  # round objects: any heading
