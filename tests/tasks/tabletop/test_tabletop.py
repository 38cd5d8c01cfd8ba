"""Behaviour of the tabletop tasks' randomization and success predicates (states set by hand)."""

import mujoco
import numpy as np

import physai
from physai.sim.scene import set_free_pose
from physai.tasks.tabletop.common import TABLE_Z, object_joint
from physai.tasks.tabletop.push import ZONE_HALF
from physai.tasks.tabletop.stack import CUBE_HALF, cube_joint


def _settle(env, n=10):
    for _ in range(n):
        mujoco.mj_step(env.model, env.data, nstep=env.substeps)


def test_stack_success_only_when_top_cube_rests_on_bottom_cube():
    env = physai.make("tabletop/stack")
    env.reset(seed=3)
    task = env.task
    assert task.top in env.task.instruction and task.bottom in env.task.instruction
    assert not task.success()
    b = task.pose(task.bottom)[:3]
    set_free_pose(env.model, env.data, cube_joint(task.top), b + [0.005, 0, 2 * CUBE_HALF + 0.001])
    _settle(env)
    assert task.success()
    set_free_pose(env.model, env.data, cube_joint(task.top), b + [0.06, 0, 0])  # beside it
    _settle(env)
    assert not task.success()


def test_push_success_when_object_rests_inside_zone():
    env = physai.make("tabletop/push")
    env.reset(seed=5)
    task = env.task
    assert task.target.name in task.instruction
    zone = task.zone_pos()
    obj = task.object_pose()[:3]
    assert np.linalg.norm(obj[:2] - zone[:2]) >= task.config.min_distance - 1e-9
    assert not task.success()
    z = TABLE_Z + task.target.half_height
    set_free_pose(env.model, env.data, object_joint(task.target), np.array([zone[0], zone[1], z]))
    _settle(env)
    assert task.success()
    edge = np.array([zone[0] + ZONE_HALF + 0.01, zone[1], z])  # centre just outside the zone
    set_free_pose(env.model, env.data, object_joint(task.target), edge)
    _settle(env)
    assert not task.success()


def test_pick_place_success_needs_object_in_tray():
    env = physai.make("tabletop/pick-place")
    env.reset(seed=2)
    task = env.task
    assert not task.success()
    tray = task.tray_pos()
    set_free_pose(env.model, env.data, object_joint(task.target),
                  np.array([tray[0], tray[1], TABLE_Z + 0.01 + task.target.half_height]))
    _settle(env)
    assert task.success()


def test_resets_are_randomized_and_seeded():
    env = physai.make("tabletop/stack")
    first = env.reset(seed=1)[0]["state"]
    again = env.reset(seed=1)[0]["state"]
    other = env.reset(seed=2)[0]["state"]
    assert np.array_equal(first, again) and not np.array_equal(first, other)
