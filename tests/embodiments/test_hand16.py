"""hand16 tactile skin: pressing an object on a fingertip lights the right taxels, more load -> more force."""

import mujoco
import numpy as np
import pytest

from physai.embodiments.hand16 import FINGERS, SEGMENTS, Hand16
from physai.sim.scene import GEOM, OBJECT_GROUP, SceneConfig, new_scene


def _scene():
    hand = Hand16()
    spec = new_scene(SceneConfig(timestep=0.002))
    hand.build(spec)
    presser = spec.worldbody.add_body(name="presser", pos=[0, 0, 0.2], mocap=True)
    presser.add_geom(
        type=GEOM.mjGEOM_BOX, size=[0.004, 0.004, 0.01], contype=OBJECT_GROUP, conaffinity=OBJECT_GROUP
    )
    m = spec.compile()
    d = mujoco.MjData(m)
    hand.bind(m, d)
    hand.reset_pose(d)
    mujoco.mj_forward(m, d)
    return hand, m, d


def _press(hand, m, d, finger: str, seg: str, along: float, depth: float) -> np.ndarray:
    """Push the presser up into the pad of `finger`/`seg` at fraction `along` of its length."""
    g = m.geom(f"{finger}_{seg}").id
    half = m.geom_size[g]
    local = np.array(
        [(2 * along - 1) * half[0], 0.0, -half[2] - 0.01 + depth]
    )  # presser centre below the pad
    pos = d.geom_xpos[g] + d.geom_xmat[g].reshape(3, 3) @ local
    d.mocap_pos[0] = pos
    for _ in range(150):
        mujoco.mj_step(m, d)
    return hand.tactile()


def test_tactile_shape_and_idle_zero():
    hand, m, d = _scene()
    tac = hand.tactile()
    assert tac.shape == (len(FINGERS), len(SEGMENTS), 4, 4) and tac.dtype == np.float32
    assert np.all(tac == 0)


@pytest.mark.parametrize("finger", ["index", "thumb"])
def test_press_on_fingertip_lights_the_right_taxels_and_scales_with_load(finger):
    hand, m, d = _scene()
    f = FINGERS.index(finger)
    totals = []
    for depth in (0.001, 0.003, 0.006):
        hand.reset_pose(d)
        tac = _press(hand, m, d, finger, "tip", along=0.9, depth=depth)
        others = tac.copy()
        others[f, 2] = 0
        assert np.all(others == 0), "only the pressed fingertip may respond"
        pad = tac[f, 2]
        assert pad.sum() > 0
        row, _ = np.unravel_index(np.argmax(pad), pad.shape)
        assert row == 3, "a press near the tip end lands in the last row"
        assert pad[:, 1:3].sum() > 0.9 * pad.sum(), "a centred press lands in the middle columns"
        totals.append(float(pad.sum()))
    assert totals[0] < totals[1] < totals[2]
    # the same press near the base of the segment lands in the first row
    hand.reset_pose(d)
    pad = _press(hand, m, d, finger, "tip", along=0.1, depth=0.003)[f, 2]
    assert np.unravel_index(np.argmax(pad), pad.shape)[0] == 0


def test_state_has_joint_torques_and_safety_has_tactile_limit():
    hand, m, d = _scene()
    names = hand.state_names()
    assert len(hand.state()) == len(names)
    assert sum(n.endswith(".torque") for n in names) == 16
    assert hand.safety_limits().tactile_force_max is not None
