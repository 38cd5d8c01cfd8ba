"""Scene assembly with MjSpec: config reaches the model, a box dropped on a table rests on its top, free
poses round-trip with their heading, markers do not collide, an open box holds what falls into it."""

import mujoco
import numpy as np
import pytest

from physai.sim.geometry import quat_yaw
from physai.sim.scene import (
    GEOM,
    SceneConfig,
    add_free_object,
    add_marker,
    add_open_box,
    add_table,
    free_pose,
    new_scene,
    set_free_pose,
    yaw_quat,
)


def _settle(m, d, seconds: float = 1.0) -> None:
    mujoco.mj_step(m, d, nstep=int(seconds / m.opt.timestep))


def test_config_reaches_the_compiled_model():
    m = new_scene(SceneConfig(timestep=0.004, offscreen_size=(320, 200))).compile()
    assert m.opt.timestep == 0.004
    assert (m.vis.global_.offwidth, m.vis.global_.offheight) == (320, 200)


def test_object_rests_on_the_table_top_with_its_heading():
    spec = new_scene()
    top = add_table(spec, "table", (0.5, 0.0), (0.3, 0.3), height=0.4)
    add_free_object(spec, "cube", GEOM.mjGEOM_BOX, [0.02, 0.02, 0.02], (1, 0, 0, 1))
    add_marker(spec, "zone", (0.05, 0.05), (0, 1, 0, 0.5), pos=(0.5, 0.1, top))
    m = spec.compile()
    d = mujoco.MjData(m)
    set_free_pose(m, d, "cube", np.array([0.5, 0.0, top + 0.05]), yaw=0.7)
    pose = free_pose(m, d, "cube")
    np.testing.assert_allclose(pose[3:], yaw_quat(0.7))
    assert quat_yaw(pose[3:]) == pytest.approx(0.7)
    _settle(m, d)
    pose = free_pose(m, d, "cube")
    assert pose[2] == pytest.approx(top + 0.02, abs=3e-3)  # resting on the top, not through it
    assert quat_yaw(pose[3:]) == pytest.approx(0.7, abs=0.02)
    # the marker is a mocap patch that nothing touches
    marker_geom = m.geom("zone_geom").id
    assert m.geom_contype[marker_geom] == 0 and m.geom_conaffinity[marker_geom] == 0
    assert m.body("zone").mocapid[0] >= 0


def test_open_box_holds_an_object_dropped_into_it():
    spec = new_scene()
    box = spec.worldbody.add_body(name="bin", pos=[0, 0, 0])
    add_open_box(box, "bin", (0.08, 0.08, 0.04), 0.006, (0.3, 0.3, 0.3, 1))
    add_free_object(spec, "ball", GEOM.mjGEOM_SPHERE, [0.02], (0, 0, 1, 1))
    m = spec.compile()
    d = mujoco.MjData(m)
    set_free_pose(m, d, "ball", np.array([0.03, 0.0, 0.2]))
    _settle(m, d)
    x, y, z = free_pose(m, d, "ball")[:3]
    assert abs(x) < 0.08 and abs(y) < 0.08 and 0.0 < z < 0.04  # inside the walls, on the floor
