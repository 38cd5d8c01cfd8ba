"""Humanoid drawer tasks: layout, success predicate (item inside a closed drawer, hand open), expert."""

import numpy as np

import physai
from physai.envs import run_episode
from physai.sim.scene import set_free_pose
from physai.tasks import TASKS
from physai.tasks.humanoid.common import TABLE_Z
from physai.tasks.humanoid.drawer import CLOSED_Q, DRAWER_FLOOR, DRAWER_ITEMS


def test_drawer_tasks_registered_and_layout_randomized():
    names = [n for n in TASKS.names() if n.startswith("humanoid/drawer-")]
    assert len(names) >= 2 and len(DRAWER_ITEMS) == len(names)
    env = physai.make("humanoid/drawer-cup")
    sides, texts = set(), set()
    for seed in range(8):
        env.reset(seed=seed)
        t = env.task
        sides.add(t.side)
        texts.add(t.instruction)
        assert "cup" in t.instruction and "drawer" in t.instruction
        assert t.drawer_q() > 0.1 and not t.in_drawer() and not t.success()
        chest, item = t.chest_pos(), t.item_pos()
        assert np.sign(chest[1]) == (1 if t.side == "left" else -1)  # the chest is on the working side
        assert abs(item[1]) < abs(chest[1]) - 0.1  # the item stands clear of the chest, nearer the middle
        assert len(t.state()) == len(t.state_names())
    assert sides == {"left", "right"} and len(texts) >= 3


def test_success_needs_closed_drawer_item_inside_and_hand_open():
    env = physai.make("humanoid/drawer-apple")
    env.reset(seed=0)
    t, m, d = env.task, env.task.model, env.task.data
    chest, q = t.chest_pos(), t.drawer_q()
    in_open = np.array([chest[0] - q + 0.06, chest[1], TABLE_Z + DRAWER_FLOOR + t.item.half_height])
    set_free_pose(m, d, "item_apple", in_open)
    assert t.in_drawer() and not t.success()  # in the drawer, but the drawer is still open
    d.qpos[t._dq] = 0.0
    assert not t.in_drawer()  # the drawer slid in without it: the apple is now behind its front panel
    inside = in_open + [q, 0, 0]
    set_free_pose(m, d, "item_apple", inside)
    assert t.success()
    set_free_pose(m, d, "item_apple", inside - [0.25, 0, 0])  # left on the table in front of the chest
    assert not t.in_drawer() and not t.success()
    set_free_pose(m, d, "item_apple", inside)
    d.qpos[t._dq] = CLOSED_Q + 0.01
    assert not t.success()  # not quite shut
    d.qpos[t._dq] = 0.0
    for side in ("left", "right"):
        d.qpos[t.robot.arms[side].finger_qpos] = 0.0  # the hand still closed on something
    assert not t.success()


def test_expert_stows_item_and_closes_drawer():
    env = physai.make("humanoid/drawer-can")
    r = run_episode(env, env.expert(), seed=5)
    assert r.success and env.task.drawer_q() < CLOSED_Q and env.task.in_drawer()
