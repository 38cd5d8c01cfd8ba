"""The tabletop/push expert decides from the observable state alone (so a policy can imitate it)."""

import mujoco
import numpy as np
import pytest

import physai
from physai.sim.scene import set_free_pose
from physai.tasks.tabletop.common import TABLE_Z, object_joint, quat_yaw
from physai.tasks.tabletop.push import PUSH_Z


@pytest.fixture(scope="module")
def env():
    e = physai.make("tabletop/push")
    yield e
    e.close()


def test_push_expert_action_is_a_function_of_the_state(env):
    """An expert that only sees every 4th step acts exactly like one that saw every step: there is no
    phase counter or remembered target, only the state's TCP, object and zone poses."""
    obs, _ = env.reset(seed=11)
    every, sparse = env.expert(), env.expert()
    every.reset()
    sparse.reset()
    modes = set()
    for i in range(150):
        modes.add("placed" if every.object_placed() else "push" if every.in_push_pose() else "reach")
        a = every.act(obs)
        if i % 4 == 0:
            np.testing.assert_array_equal(sparse.act(obs), a)
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert info["is_success"] and {"reach", "push"} <= modes


def test_push_expert_pushes_only_from_behind_on_the_line(env):
    """Push mode needs the TCP low, behind the object and near the line to the zone, with the fingers
    part-open (the two pads form a pronged pusher); while in it the object moves towards the zone."""
    obs, _ = env.reset(seed=12)
    ex = env.expert()
    ex.reset()
    t = env.task
    pushed = 0
    for _ in range(150):
        if ex.in_push_pose():
            along, lateral = ex.tcp_on_line()
            assert along < 0 and lateral < ex.LATERAL
            assert ex.ctl.tcp_z() < PUSH_Z + ex.LOW
            assert 0.025 < t.robot.gripper_width() < 0.04  # pads ~3.2 cm apart, not closed on anything
            before = np.linalg.norm(t.object_pose()[:2] - t.zone_pos()[:2])
        a = ex.act(obs)
        push = ex.in_push_pose()
        obs, _, term, trunc, info = env.step(a)
        if push:
            pushed += np.linalg.norm(t.object_pose()[:2] - t.zone_pos()[:2]) < before + 1e-3
        if term or trunc:
            break
    assert info["is_success"] and pushed > 5


def test_push_expert_rises_and_comes_round_when_the_object_slips_off(env):
    """Mid-push the object is moved sideways off the pusher: the state no longer shows a push pose, so
    the expert lifts before moving sideways (no dragging through the object), comes round behind it
    and still gets it into the zone."""
    obs, _ = env.reset(seed=13)
    ex = env.expert()
    ex.reset()
    t, m, d = env.task, env.model, env.data
    for _ in range(150):  # until it is pushing
        if ex.in_push_pose():
            break
        obs, *_ = env.step(ex.act(obs))
    assert ex.in_push_pose()
    obj = t.object_pose()
    to_zone = t.zone_pos()[:2] - obj[:2]
    side = np.array([-to_zone[1], to_zone[0]]) / np.linalg.norm(to_zone)
    moved = obj[:2] + 0.05 * side
    yaw = quat_yaw(obj[3:])
    set_free_pose(m, d, object_joint(t.target), np.array([*moved, TABLE_Z + t.target.half_height]), yaw)
    mujoco.mj_forward(m, d)
    assert not ex.in_push_pose() and not ex.object_placed()
    a = ex.act(obs)  # the expert reads the task's state, not this (stale) observation
    assert a[2] > 0 and np.linalg.norm(a[:2]) < a[2]  # up first
    for _ in range(150):
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
        a = ex.act(obs)
    assert info["is_success"]


def test_push_expert_stops_once_the_object_is_near_the_zone_centre(env):
    """Mid-push the object is put near the zone centre: the expert lifts straight up, off the object."""
    obs, _ = env.reset(seed=14)
    ex = env.expert()
    ex.reset()
    t, m, d = env.task, env.model, env.data
    for _ in range(150):  # until it is pushing
        if ex.in_push_pose():
            break
        obs, *_ = env.step(ex.act(obs))
    a = ex.act(obs)
    assert ex.in_push_pose() and np.linalg.norm(a[:2]) > 0.003  # pushing: moving along the table
    zone = t.zone_pos()
    z = TABLE_Z + t.target.half_height
    set_free_pose(m, d, object_joint(t.target), np.array([zone[0] + 0.005, zone[1], z]))
    mujoco.mj_forward(m, d)
    assert ex.object_placed()
    a = ex.act(obs)
    assert a[2] > 0.01 and np.linalg.norm(a[:2]) < 1e-6
