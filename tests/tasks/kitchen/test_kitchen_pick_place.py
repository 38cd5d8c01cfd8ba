"""Kitchen pick-and-place: counter -> sink layouts, instructions and the success predicate."""

import numpy as np

import physai
from physai.tasks.kitchen.pick_place import SINK_INNER, grasp_yaw
from physai.tasks.kitchen.scene import COUNTER_Z, GEOMS, MW_FLOOR_Z, OBJECTS


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


def test_cabinet_to_counter_opens_the_door_and_needs_the_item_out_on_the_counter():
    env = physai.make("kitchen/pick-cabinet-to-counter")
    env.reset(seed=1)
    t = env.task
    assert t.kitchen.joint("cabinet_door") > 1.7  # open, so the shelf is reachable
    assert t.obj.side_graspable and t.obj.name in t.instruction
    inside = t.item_pos()
    assert inside[0] > t.kitchen.origin["cabinet"][0] and not t.success()
    t.kitchen.place_object(t.obj, np.array([0.33, inside[1]]), COUNTER_Z, 0.0)
    assert t.success()
    t.robot.data.qpos[t.robot.finger_qpos] = 0.0  # not let go
    assert not t.success()


def test_counter_to_microwave_needs_the_item_inside_the_cavity():
    env = physai.make("kitchen/pick-counter-to-microwave")
    env.reset(seed=2)
    t = env.task
    assert t.kitchen.joint("microwave_door") > 1.7 and 2 * t.obj.half_height <= 0.12
    assert not t.success()
    cavity = t.kitchen.world("microwave", np.array([0.12, 0.02, MW_FLOOR_Z]))
    t.kitchen.place_object(t.obj, cavity[:2], cavity[2], 0.0)
    assert t.success()
    t.kitchen.place_object(t.obj, cavity[:2] - [0.2, 0], COUNTER_Z, 0.0)  # in front of it
    assert not t.success()
