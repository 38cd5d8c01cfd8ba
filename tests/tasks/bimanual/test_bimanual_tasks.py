"""Behaviour of the bimanual tasks' success predicates (the generic contract is in test_every_task.py)."""

import mujoco
import numpy as np
import pytest

import physai
from physai.sim.scene import set_free_pose
from physai.tasks.bimanual.handover import BAR_HALF
from physai.tasks.bimanual.pack_mouse import BOX_HALF, BOX_WALL, LID_OPEN, MOUSE_HALF


@pytest.fixture(scope="module")
def pack():
    env = physai.make("bimanual/pack-mouse")
    yield env
    env.close()


def _arrange(env, mouse_inside: bool, lid: float, box_in_area: bool) -> None:
    """Reset, then place box/mouse/lid directly and let physics settle (arms stay at home, open)."""
    env.reset(seed=3)
    t, m, d = env.task, env.model, env.data
    area = t.area_pos()
    box = np.array([area[0] - (0.0 if box_in_area else 0.08), area[1], area[2] - 0.0008])
    set_free_pose(m, d, "box", box)
    d.qpos[t.lid_qpos] = lid
    mouse = box + [0, 0, BOX_WALL + MOUSE_HALF[2] + 0.002] if mouse_inside else np.array(
        [0.15, -0.2, box[2] + MOUSE_HALF[2]])
    set_free_pose(m, d, "mouse", mouse, yaw=np.pi / 2)
    mujoco.mj_forward(m, d)
    zero = np.zeros(14, dtype=np.float32)
    for _ in range(5):
        env.step(zero)


@pytest.mark.parametrize(("inside", "lid", "in_area", "expected"), [
    (True, 0.0, True, True),
    (False, 0.0, True, False),  # mouse left on the table
    (True, LID_OPEN, True, False),  # lid open
    (True, 0.0, False, False),  # box short of the target area
])
def test_pack_mouse_success_needs_all_three(pack, inside, lid, in_area, expected):
    _arrange(pack, inside, lid, in_area)
    t = pack.task
    assert t.mouse_in_box() is inside
    assert t.lid_closed() is (lid < 0.1)
    assert t.box_in_area() is in_area
    assert t.success() is expected


def test_pack_mouse_reset_randomizes_from_rng(pack):
    def snapshot(seed):
        pack.reset(seed=seed)
        return pack.task.state().copy()

    a, b, c = snapshot(0), snapshot(1), snapshot(0)
    assert np.array_equal(a, c) and not np.allclose(a, b)
    pack.reset(seed=0)
    assert pack.task.lid_angle() == pytest.approx(LID_OPEN)
    assert not pack.task.box_in_area() and not pack.task.mouse_in_box()
    half = np.array(BOX_HALF[:2])
    assert half.min() > MOUSE_HALF[1]  # the mouse fits in the box in any heading


def test_handover_needs_the_right_arm_to_take_over():
    env = physai.make("bimanual/handover")
    env.reset(seed=0)
    t, m, d = env.task, env.model, env.data
    # bar put straight onto the target without a handover: not a success
    set_free_pose(m, d, "bar", np.array([*t.target_pos()[:2], t.target_pos()[2] + BAR_HALF[2]]))
    mujoco.mj_forward(m, d)
    for _ in range(5):
        env.step(np.zeros(14, dtype=np.float32))
    assert not t.success()
    t.handed_over = True
    assert t.success()
    assert env.task.state()[-1] == 1.0
    env.close()


def test_steer_measured_gain_is_a_function_of_the_measured_pose(pack):
    from physai.tasks.bimanual.common import Steer

    pack.reset(seed=0)
    arm = pack.task.robot.left
    steer = Steer(arm, measured_gain=0.4)
    steer.reset()
    pos, quat = arm.tcp_pose()
    a = steer.action(pos + [0.02, 0.0, 0.0], quat, 1.0)
    assert a[:3] == pytest.approx([0.008, 0.0, 0.0], abs=1e-6)  # 0.4 of the measured error
    assert a[3:6] == pytest.approx([0, 0, 0], abs=1e-6) and a[6] == 1.0
    far = steer.action(pos + [0.0, 0.5, 0.0], quat, 0.0)
    assert np.linalg.norm(far[:3]) == pytest.approx(steer.max_lin)  # clipped to the speed limit


def test_pack_mouse_expert_hands_off_on_observable_state(pack):
    """The right arm starts on the lid only once the state shows the mouse packed (mouse in the box,
    left fingers open, left hand clear above it); the left arm leaves only once the right hand is at the
    lid, and starts pushing the box only once the lid is shut."""
    from physai.tasks.bimanual.pack_mouse import LID_CLOSED

    obs, _ = pack.reset(seed=5)
    ex = pack.expert()
    ex.reset()
    t = pack.task
    seen = set()
    for _ in range(170):
        rp, lp = ex.rp, ex.lp
        a = ex.act(obs)
        if ex.rp == 1 and rp == 0:
            assert t.mouse_in_box() and t.robot.left.gripper_width() > ex.OPENED
            assert ex.lp == 7  # the left hand holds above the box until the right hand engages
            seen.add("right")
        if ex.lp == 8 and lp == 7:
            assert ex.lid_engaged()
            seen.add("left")
        if ex.lp == 9 and lp == 8:
            assert t.lid_angle() < LID_CLOSED
            seen.add("push")
        obs, _, term, trunc, info = pack.step(a)
        if term or trunc:
            break
    assert info["is_success"] and seen == {"right", "left", "push"}


def test_handover_expert_hands_off_on_observable_state():
    """The right arm leaves its waiting spot only once the state shows the bar presented (left fingers
    closed on it, held up at the exchange point); the left fingers open only once the right fingers are
    closed on the bar's other end; the right arm carries the bar away only once the left fingers are
    open; the bar is let go over the zone while still being lowered. Each hand holds its hand-off state
    until the other hand has acted, and a switch decided on a state already gives that state the new
    phase's action."""
    from physai.tasks.bimanual.common import TABLE_Z

    env = physai.make("bimanual/handover")
    obs, _ = env.reset(seed=4)
    ex = env.expert()
    ex.reset()
    t = env.task
    L, R = t.robot.left, t.robot.right
    seen = set()
    for _ in range(t.max_steps):
        lp, rp = ex.lp, ex.rp
        a = ex.act(obs)  # the state is still the one the expert decided on
        if ex.rp == 1 and rp == 0:
            assert L.gripper_width() < ex.GRASPED and t.bar_pose()[2] > TABLE_Z + 0.15
            assert ex.lp == 2  # the left hand still holds the closed grip at the exchange point
            seen.add("present")
        if ex.lp == 3 and lp == 2:
            assert R.gripper_width() < ex.GRASPED and ex.right_holds()
            assert ex.rp == 2 and a[6] == 0.0 and a[13] == 1.0  # left opens at once, right holds on
            seen.add("take")
        if ex.rp == 3 and rp == 2:
            assert L.gripper_width() > ex.OPENED and ex.right_holds()
            seen.add("carry")
        if ex.rp == 4 and rp == 3:  # let go over the zone, still in the air, while lowering
            bar = t.bar_pose()[:3]
            assert np.hypot(*(bar[:2] - t.target_pos()[:2])) < 0.015
            assert TABLE_Z + BAR_HALF[2] + 0.01 < bar[2] < TABLE_Z + BAR_HALF[2] + ex.DROP
            assert a[13] == 0.0 and a[9] < 0
            seen.add("release")
        if ex.lp == 2:
            assert a[6] == 1.0  # the left grip stays closed while presenting
        if ex.rp == 2:
            assert a[13] == 1.0
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert info["is_success"] and t.handed_over and seen == {"present", "take", "carry", "release"}
    env.close()


def test_handover_expert_acts_on_the_state_alone():
    """Same state -> same action: a fresh expert put into the running expert's phases acts alike (no
    wait counter, no target remembered from an earlier step)."""
    env = physai.make("bimanual/handover")
    obs, _ = env.reset(seed=9)
    ex = env.expert()
    ex.reset()
    checked = 0
    for _ in range(env.task.max_steps):
        twin = env.expert()
        twin.reset()  # (reads the current TCP poses as home: copy the real ones over)
        twin.lp, twin.rp = ex.lp, ex.rp
        twin.left_park, twin.right_park, twin.home_yaw = ex.left_park, ex.right_park, ex.home_yaw
        twin.left.home_quat, twin.right.home_quat = ex.left.home_quat, ex.right.home_quat
        a = ex.act(obs)
        assert np.array_equal(twin.act(obs), a)
        checked += 1
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    assert checked > 30
    env.close()
