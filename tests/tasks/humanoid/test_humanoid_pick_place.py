"""humanoid/pick-*: randomized layouts on one side, instructions, the success predicate."""

import numpy as np

import physai
from physai.sim.scene import set_free_pose
from physai.tasks.humanoid.common import TABLE_Z, inside, item_joint
from physai.tasks.humanoid.pick_place import PICK_PLACE_TASKS

NAME = "humanoid/pick-cup-plate-to-tray"


def test_suite_registered():
    names = [n for n in physai.tasks.TASKS.names() if n.startswith("humanoid/pick-")]
    assert len(names) == len(PICK_PLACE_TASKS) >= 6


def test_layouts_vary_and_stay_on_one_side():
    env = physai.make(NAME)
    sides, instructions, dests = set(), set(), []
    for seed in range(8):
        env.reset(seed=seed)
        t = env.task
        sign = 1 if t.side == "left" else -1
        sides.add(t.side)
        instructions.add(t.instruction.split(" ")[0])
        assert sign * t.source_pos()[1] >= -0.001 and sign * t.dest_pos()[1] >= -0.001
        assert inside(t.source, t.source_pos(), t.item_pos())
        assert np.linalg.norm(t.source_pos()[:2] - t.dest_pos()[:2]) > 0.2
        assert "cup" in t.instruction and "plate" in t.instruction and "tray" in t.instruction
        dests.append(t.dest_pos()[:2])
    assert sides == {"left", "right"} and len(instructions) > 1
    assert np.ptp(np.array(dests), axis=0).min() > 0.02
    env.close()


def test_success_predicate():
    env = physai.make(NAME)
    env.reset(seed=0)
    t = env.task
    assert not t.success()
    dst = t.dest_pos()
    set_free_pose(t.model, t.data, item_joint(t.item), np.array([dst[0], dst[1], TABLE_Z + 0.06]))
    for _ in range(10):
        env.step(np.zeros(14, np.float32))
    assert t.success()
    env.close()
