"""Kitchen pick-and-place: counter -> sink layouts, instructions and the success predicate."""

import numpy as np

import physai
from physai.tasks.kitchen.pick_place import SINK_INNER, grasp_yaw
from physai.tasks.kitchen.scene import COUNTER_Z, GEOMS, OBJECTS


def test_layout_item_kinds_and_instructions_vary():
    env = physai.make("kitchen/pick-counter-to-sink")
    kinds, texts = set(), set()
    for seed in range(10):
        env.reset(seed=seed)
        t = env.task
        assert t.kitchen.active("sink") and t.obj.name in t.instruction
        p = t.item_pos()
        assert abs(p[2] - (COUNTER_Z + t.obj.half_height)) < 0.01  # standing on the counter
        assert abs(p[1] - t.kitchen.origin["sink"][1]) > 0.1  # not already in front of the sink
        assert not t.success()
        assert len(t.state()) == len(t.state_names())
        kinds.add(t.obj.name)
        texts.add(t.instruction)
    assert len(kinds) >= 5 and len(texts) >= 5


def test_success_needs_item_resting_in_basin_and_gripper_open():
    env = physai.make("kitchen/pick-counter-to-sink")
    env.reset(seed=0)
    t = env.task
    centre = t.kitchen.world("sink", np.array([GEOMS["sink"].depth / 2, 0.0, 0.0]))
    t.kitchen.place_object(t.obj, centre[:2], COUNTER_Z + 0.01, 0.0)
    assert t.success()  # at rest in the basin, gripper open at home
    outside = centre[:2] + [0, SINK_INNER[1] + 0.05]
    t.kitchen.place_object(t.obj, outside, COUNTER_Z, 0.0)
    assert not t.success()
    t.kitchen.place_object(t.obj, centre[:2], COUNTER_Z + 0.01, 0.0)
    t.robot.data.qpos[t.robot.finger_qpos] = 0.0  # still holding it
    assert not t.success()


def test_grasp_yaw_takes_the_smallest_equivalent_turn():
    box = next(o for o in OBJECTS if o.name == "milk carton")  # square: quarter turns are equivalent
    assert abs(grasp_yaw(box, 1.4)) <= np.pi / 4 + 1e-9
    juice = next(o for o in OBJECTS if o.name == "juice box")
    assert abs(grasp_yaw(juice, 3.0) - (3.0 - np.pi)) < 1e-9
    can = next(o for o in OBJECTS if o.name == "soda can")
    assert grasp_yaw(can, 2.0) == 0.0
