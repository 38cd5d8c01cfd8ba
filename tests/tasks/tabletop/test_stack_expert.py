"""The tabletop/stack expert decides from observable state and steers the measured TCP pose."""

import numpy as np
import pytest

import physai
from physai.sim.geometry import quat_yaw
from physai.sim.scene import set_free_pose
from physai.tasks.tabletop.common import TABLE_Z, WaypointArm
from physai.tasks.tabletop.stack import CUBE_HALF, cube_joint


@pytest.fixture(scope="module")
def stack():
    env = physai.make("tabletop/stack")
    yield env
    env.close()


def test_waypoint_arm_measured_gain_is_a_function_of_the_measured_pose(stack):
    stack.reset(seed=0)
    arm = stack.task.robot
    ctl = WaypointArm(arm, measured_gain=0.4)
    ctl.reset()
    pos, quat = arm.tcp_pose()
    a = ctl.action(pos + [0.0, 0.02, 0.0], quat, 1.0)
    assert a[:3] == pytest.approx([0.0, 0.008, 0.0], abs=1e-6)  # 0.4 of the measured error
    assert a[3:6] == pytest.approx([0, 0, 0], abs=1e-6) and a[6] == 1.0
    far = ctl.action(pos + [0.5, 0.0, 0.0], quat, 0.0)
    assert np.linalg.norm(far[:3]) == pytest.approx(ctl.max_lin)  # clipped to the speed limit
    plain = WaypointArm(arm)  # default: the commanded pose, as before (other tasks unchanged)
    assert plain.measured_gain is None


def test_stack_expert_hands_off_on_observable_state(stack):
    """Every phase change is decided on the state before acting. Descend only above the cube with the
    wrist turned; close only at the grasp point; lift only once the fingers hold the cube (width and
    cube-at-TCP, not a timer); lower only with the held cube over the bottom cube; open while still
    lowering it, within `DROP` of its place (not once it rests there); leave once the fingers are open."""
    obs, _ = stack.reset(seed=7)
    ex = stack.expert()
    ex.reset()
    t = stack.task
    seen = []
    info = {}
    for _ in range(stack.task.max_steps):
        before = ex.phase
        width = t.robot.gripper_width()
        a = ex.act(obs)
        step = (before, ex.phase)
        if step == (0, 1):
            above = ex.grasp_point() + [0, 0, ex.CARRY_Z - ex.GRASP_Z]
            assert width > ex.OPENED and ex.ctl.dist(above) < ex.ABOVE
        elif step == (1, 2):  # decided on this state: its action already closes
            assert ex.ctl.dist(ex.grasp_point()) < ex.AT_GRASP and a[6] == 1.0
        elif step == (2, 3):
            assert ex.EMPTY < t.robot.gripper_width() < ex.GRASPED and ex.holding()
        elif step == (4, 5):
            assert np.linalg.norm(ex.place_error()[:2]) < ex.ALIGNED
        elif step == (5, 6):  # it opens while still lowering the cube, before it rests (see DROP)
            err = ex.place_error()
            assert np.linalg.norm(err[:2]) < ex.ALIGNED and 0 < -err[2] < ex.DROP
            assert a[6] == 0.0 and a[2] < 0
        elif step == (6, 7):
            assert width > ex.OPENED
        if step[0] != step[1]:
            seen.append(step)
        obs, _, term, trunc, info = stack.step(a)
        if term or trunc:
            break
    assert info["is_success"] and seen == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]


def test_stack_state_shows_the_grasp_yaw(stack):
    """The wrist turn the expert steers to is in the state (`top.grasp.yaw`), reduced by the cube's
    quarter-turn symmetry."""
    obs, _ = stack.reset(seed=4)
    t = stack.task
    names = t.state_names()
    i = names.index("top.grasp.yaw")
    yaw = float(t.state()[i])
    assert -np.pi / 4 <= yaw < np.pi / 4
    pose = t.pose(t.top)
    for turn in (np.pi / 2, -np.pi / 2, np.pi):
        set_free_pose(stack.model, stack.data, cube_joint(t.top), pose[:3], yaw=quat_yaw(pose[3:]) + turn)
        assert float(t.state()[i]) == pytest.approx(yaw, abs=1e-5)


def test_stack_expert_starts_over_when_the_cube_leaves_the_hand(stack):
    """A cube that is no longer in the hand (as the state shows) sends the expert back to the start."""
    obs, _ = stack.reset(seed=11)
    ex = stack.expert()
    ex.reset()
    t = stack.task
    for _ in range(stack.task.max_steps):
        obs, *_ = stack.step(ex.act(obs))
        if ex.phase == 4:
            break
    assert ex.phase == 4 and ex.holding()
    away = t.pose(t.bottom)[:3] + [0.0, 0.12, 0.0]  # put the held cube back on the table, elsewhere
    away[2] = TABLE_Z + CUBE_HALF
    set_free_pose(stack.model, stack.data, cube_joint(t.top), away)
    obs, *_ = stack.step(np.zeros(7, np.float32))
    ex.act(obs)
    assert ex.phase == 0 and not ex.holding()
