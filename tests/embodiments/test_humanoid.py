"""humanoid-upper: layout of actions/state/limits, ee_delta moves one hand and holds the rest, grasp."""

import mujoco
import numpy as np
import pytest

from physai.embodiments import make_embodiment
from physai.sim.scene import new_scene


@pytest.fixture(scope="module")
def robot():
    r = make_embodiment("humanoid-upper")
    spec = new_scene()
    r.build(spec)
    model = spec.compile()
    data = mujoco.MjData(model)
    r.bind(model, data)
    return r, model, data


def _reset(r, model, data):
    mujoco.mj_resetData(model, data)
    r.reset_pose(data)
    mujoco.mj_forward(model, data)


def _run(r, model, data, action, mode, steps, substeps=25):
    for _ in range(steps):
        r.apply_action(np.asarray(action, np.float32), mode, 0.05)
        for _ in range(substeps):
            mujoco.mj_step(model, data)


def test_layout(robot):
    r, model, data = robot
    _reset(r, model, data)
    assert r.action_spec("joint_pos").shape == (18,) and r.action_spec("ee_delta").shape == (14,)
    assert len(r.state_names()) == r.state().shape[0] == 60
    lim = r.safety_limits()
    assert len(lim.joint_names) == 16 == lim.joint_pos_lower.shape[0] == lim.joint_effort_max.shape[0]
    assert np.all(lim.joint_pos_lower < lim.joint_pos_upper)
    assert {"head", "left/wrist", "right/wrist"} <= set(r.cameras())
    assert r.sensors()["left/wrist_force"] == "force"


def test_ee_delta_moves_one_hand(robot):
    r, model, data = robot
    _reset(r, model, data)
    left0, right0 = r.tcp_pose("left")[0], r.tcp_pose("right")[0]
    waist0 = data.qpos[r.waist_qpos].copy()
    act = np.zeros(14)
    act[0] = 0.01  # left hand +x, 1 cm per step
    act[13] = 1.0  # close the right hand
    _run(r, model, data, act, "ee_delta", 6)
    _run(r, model, data, np.r_[np.zeros(13), 1.0], "ee_delta", 6)
    moved = r.tcp_pose("left")[0] - left0
    assert 0.045 < moved[0] < 0.075 and abs(moved[1]) < 0.01 and abs(moved[2]) < 0.01
    assert np.linalg.norm(r.tcp_pose("right")[0] - right0) < 0.01
    assert np.allclose(data.qpos[r.waist_qpos], waist0, atol=0.01)
    assert r.gripper_width("right") < 0.01 < r.gripper_width("left")


def test_joint_pos_reaches_targets(robot):
    r, model, data = robot
    _reset(r, model, data)
    target = r.action_spec("joint_pos").low * 0.0
    target[:2] = [0.2, 0.1]
    target[2:9] = r.arms["left"].home + 0.2
    target[9:16] = r.arms["right"].home
    _run(r, model, data, target, "joint_pos", 30)
    q = r.state()[:16]
    lim = r.safety_limits()
    assert np.allclose(q, np.clip(target[:16], lim.joint_pos_lower, lim.joint_pos_upper), atol=0.03)
