"""The supervisor bounds the measured motion of the dexterous hand (ee_delta: wrist joint increments plus
finger joints) and of the quadruped's base (base_velocity), in simulation (hypothesis, derandomized).

hand16: the speed of the palm and the four fingertips, measured by MuJoCo on every physics substep,
stays within 1.1 x the cap; the robot's commanded tool frames (FK of its own wrist command and finger
targets) stay inside a workspace box around the home pose; finger targets inside the joint limits.
quadruped: the measured travel speed of the base (displacement over `base_speed_window`) stays within
1.1 x the cap, the supervisor's integrated commanded base position inside the base box and the measured
base within the monitor margin of it. Plus the unit rules (layout by name, refusals, stale state, NaN
window, re-sync) for both modes. The full adversarial sweep is bench/safety_motion.py.
"""

from __future__ import annotations

from dataclasses import replace

import mujoco
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from physai.core.errors import ConfigError, SafetyError
from physai.deploy.drivers.sim import SimDriver
from physai.deploy.runtime import make_supervisor
from physai.deploy.safety import STOPPED, RobotState, SafetySupervisor, SupervisorConfig
from physai.embodiments import make_embodiment

HAND_TASK, HAND_STEPS = "dexterous/grasp-lift", 30  # 20 Hz: 1.5 s
QUAD_TASK = "quadruped/patrol"
HAND_KINDS = ["high", "low", "zero", "flip", "random", "rotate", "fingers_far"]
QUAD_KINDS = ["high", "low", "zero", "flip", "random", "push"]
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _reset(drv: SimDriver, seed: int) -> None:
    drv._obs, _ = drv.env.reset(seed=seed)
    drv._info, drv._done = {"is_success": False}, False


# ---------------------------------------------------------------------------------------------- hand16
@pytest.fixture(scope="module")
def hand():
    drv = SimDriver(HAND_TASK, realtime=False, max_steps=10**9)
    info = drv.connect()
    yield drv, info
    drv.disconnect()


def _hand_actions(kinds: list[str], seed: int, info) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = info.action_low.astype(float), info.action_high.astype(float)
    rot = np.array([n in ("wrist.dyaw", "wrist.dpitch", "wrist.droll") for n in info.action_names])
    fing = np.arange(len(lo)) >= 6
    out = []
    for t, k in enumerate(kinds):
        a = np.clip(np.zeros_like(lo), lo, hi)
        if k in ("high", "low"):
            a = (hi if k == "high" else lo).copy()
        elif k == "flip":
            a = (hi if t % 2 else lo).copy()
        elif k == "random":
            a = rng.uniform(lo, hi)
        elif k == "rotate":
            a[rot] = hi[rot] if rng.random() < 0.5 else lo[rot]
        elif k == "fingers_far":
            a[fing] = (hi if (t // 5) % 2 else lo)[fing]
        out.append(a)
    return out


@settings(max_examples=8, **SETTINGS)
@given(
    st.lists(st.sampled_from(HAND_KINDS), min_size=HAND_STEPS, max_size=HAND_STEPS),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_hand_measured_speed_and_commanded_pose_stay_bounded(hand, kinds, seed, collaborative):
    drv, info = hand
    _reset(drv, seed % 1000)
    env, kin = drv.env, info.kinematics
    m, d, robot = env.model, env.data, env.robot
    r = drv.read()
    home = r.robot.ee_pos
    lim = replace(info.safety_limits, workspace_low=home.min(0) - 0.1, workspace_high=home.max(0) + 0.1)
    cfg = SupervisorConfig(collaborative=collaborative)
    sup = make_supervisor(replace(info, safety_limits=lim), 1 / info.hz, cfg)
    sites = np.array([m.site(s).id for s, _ in robot.tcp_frames()])
    seen = {"prev": None, "t": 0.0, "peak": 0.0}

    def probe(model, data):  # every physics substep: finite difference of the palm and fingertip sites
        if data is not d:
            return
        p = data.site_xpos[sites].copy()
        if seen["prev"] is not None and data.time > seen["t"]:
            v = float(np.linalg.norm(p - seen["prev"], axis=1).max()) / (data.time - seen["t"])
            seen["peak"] = max(seen["peak"], v)
        seen["prev"], seen["t"] = p, data.time

    sup.start(r.robot)
    sup.enable()
    mujoco.set_mjcb_control(probe)
    try:
        for t, a in enumerate(_hand_actions(kinds, seed, info)):
            drv.write(sup.filter(a, drv.read().robot))
            q_cmd = np.concatenate([robot.wrist_cmd, d.ctrl[robot.finger_act]])
            tgt = kin.points(q_cmd)[:, 0]
            assert np.all(tgt >= lim.workspace_low - 1e-6) and np.all(tgt <= lim.workspace_high + 1e-6), (
                t, tgt, sup.summary())
            assert np.all(q_cmd >= lim.joint_pos_lower - 1e-6) and np.all(q_cmd <= lim.joint_pos_upper + 1e-6)
    finally:
        mujoco.set_mjcb_control(None)
    assert sup.state != STOPPED, sup.summary()
    assert seen["peak"] <= 1.1 * sup.ee_cap, (seen["peak"], sup.ee_cap, sup.summary())


# ---------------------------------------------------------------------------------------------- quadruped
@pytest.fixture(scope="module", params=[50.0, 100.0])
def quad(request):
    drv = SimDriver(QUAD_TASK, control="base_velocity", hz=request.param, realtime=False, max_steps=10**9)
    info = drv.connect()
    yield drv, info
    drv.disconnect()


@settings(max_examples=3, **SETTINGS)
@given(
    st.lists(st.sampled_from(QUAD_KINDS), min_size=8, max_size=8),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_quadruped_measured_speed_and_commanded_base_stay_bounded(quad, kinds, seed, collaborative):
    """2 s of robot time in 8 segments of one kind each (a gait needs time to answer a command)."""
    drv, info = quad
    _reset(drv, seed % 1000)
    hz = info.hz
    r = drv.read()
    p0 = r.robot.base_pose[:2]
    lim = replace(info.safety_limits, base_workspace_low=p0 - 0.4, base_workspace_high=p0 + 0.4)
    cfg = SupervisorConfig(collaborative=collaborative)
    sup = make_supervisor(replace(info, safety_limits=lim), 1 / hz, cfg)
    rng = np.random.default_rng(seed)
    lo, hi = info.action_low.astype(float), info.action_high.astype(float)
    sup.start(r.robot)
    sup.enable()
    n = int(2 * hz)
    seg = n // len(kinds)
    push = rng.normal(size=2)
    pos = []
    for t in range(n):
        rs = drv.read().robot
        k = kinds[min(t // seg, len(kinds) - 1)]
        a = {"high": hi, "low": lo, "flip": hi if t % 2 else lo, "random": rng.uniform(lo, hi)}.get(k)
        if a is None:
            a = np.zeros_like(lo)
            if k == "push":  # a world direction, turned into the heading frame, at the bounds
                c, s = np.cos(rs.base_pose[2]), np.sin(rs.base_pose[2])
                b = np.array([c * push[0] + s * push[1], -s * push[0] + c * push[1]])
                a[:2] = np.clip(b / np.abs(b).max() * hi[:2], lo[:2], hi[:2])
        drv.write(sup.filter(np.array(a, float), rs))
        pos.append(drv.env.data.qpos[drv.env.robot.root_q : drv.env.robot.root_q + 2].copy())
        bp = sup._bp
        inside = np.all(bp >= lim.base_workspace_low - 1e-9) and np.all(bp <= lim.base_workspace_high + 1e-9)
        assert inside, (t, bp)
    assert sup.state != STOPPED, sup.summary()
    pos = np.array(pos)
    w = lim.base_speed_window
    k = int(round(w * hz))
    travel = float((np.linalg.norm(pos[k:] - pos[:-k], axis=1) / w).max())
    assert travel <= 1.1 * sup.base_cap, (travel, sup.base_cap, sup.summary())
    margin = SupervisorConfig().base_monitor_margin
    assert np.all(pos >= lim.base_workspace_low - margin) and np.all(pos <= lim.base_workspace_high + margin)


# ---------------------------------------------------------------------------------------------- unit rules
HAND = make_embodiment("hand16")
QUAD = make_embodiment("quadruped")


def _hand_sup(**cfg) -> SafetySupervisor:
    spec = HAND.action_spec("ee_delta")
    return SafetySupervisor(HAND.safety_limits(), "ee_delta", 0.05, list(spec.names), spec.low, spec.high,
                            SupervisorConfig(**cfg), kinematics=HAND.kinematics())


def _quad_sup(**cfg) -> SafetySupervisor:
    spec = QUAD.action_spec("base_velocity")
    return SafetySupervisor(QUAD.safety_limits(), "base_velocity", 0.02, list(spec.names), spec.low,
                            spec.high, SupervisorConfig(**cfg))


def _hand_state(q: np.ndarray, stamp: float) -> RobotState:
    kin = HAND.kinematics()
    return RobotState(joint_pos=q, ee_pos=kin.points(q)[:, 0].copy(), stamp=stamp)


def _quad_state(pose, stamp: float) -> RobotState:
    return RobotState(joint_pos=np.zeros(12), base_pose=np.asarray(pose, float), stamp=stamp)


def test_hand_channels_parse_by_name_as_wrist_joint_increments():
    sup = _hand_sup()
    assert sup.joint_delta and sup.delta_mask[:6].all() and not sup.delta_mask[6:].any()
    assert list(sup.joint_idx) == list(range(22)) and len(sup.other_idx) == 0
    spec = HAND.action_spec("ee_delta")
    names = list(spec.names)
    names[0] = "wrist.dq"  # no joint 'wrist_q' and 'wrist_x' left uncommanded
    with pytest.raises(ConfigError, match="wrist_x"):
        SafetySupervisor(HAND.safety_limits(), "ee_delta", 0.05, names, spec.low, spec.high,
                         kinematics=HAND.kinematics())


def test_hand_rotation_increments_are_capped_by_the_fingertip_speed():
    """dyaw at its bound (0.25 rad per step) would swing the fingertips (~0.2 m from the wrist axes) at
    1 m/s; the supervisor scales it so FK of consecutive commands moves no frame faster than the cap."""
    sup = _hand_sup(nan_hold_cycles=10**6)
    kin = HAND.kinematics()
    q = np.zeros(22)
    s = _hand_state(q, 0.0)
    sup.start(s)
    sup.enable()
    prev = kin.points(sup._q)[:, 0]
    a = np.zeros(22)
    a[3] = 0.25
    for i in range(1, 10):
        out = sup.filter(a, s)
        assert 0 < out[3] < 0.25
        pts = kin.points(sup._q)[:, 0]
        assert np.linalg.norm(pts - prev, axis=1).max() / 0.05 <= sup.ee_cap * (1 + 1e-6)
        prev = pts
        q = sup._q.copy()  # a hand that tracks exactly
        s = _hand_state(q, i * 0.05)


def test_base_velocity_refused_without_base_limits_or_pose():
    spec = QUAD.action_spec("base_velocity")
    no_base = replace(QUAD.safety_limits(), base_speed_max=None)
    with pytest.raises(ConfigError, match="base_speed_max"):
        SafetySupervisor(no_base, "base_velocity", 0.02, list(spec.names), spec.low, spec.high)
    with pytest.raises(SafetyError, match="base_pose"):
        _quad_sup().start(RobotState(joint_pos=np.zeros(12), stamp=0.0))


def test_base_caps_ramps_and_box():
    sup = _quad_sup(collaborative=True)
    lim = sup.limits
    s = _quad_state([3.3, 0.0, 0.0], 0.0)  # 0.2 m from the +x face of the 3.5 m box
    sup.start(s)
    sup.enable()
    v_prev = 0.0
    for i in range(1, 150):
        out = sup.filter(np.array([1.0, 0.4, 1.2]), s)
        assert np.hypot(out[0], out[1]) <= sup.base_cap * (1 + 1e-6) and abs(out[2]) <= lim.base_yaw_rate_max
        assert np.hypot(out[0], out[1]) - v_prev <= lim.base_acc_max * 0.02 + 1e-6
        v_prev = np.hypot(out[0], out[1])
        assert sup._bp[0] <= lim.base_workspace_high[0] + 1e-9
        s = _quad_state([*sup._bp, 0.0], i * 0.02)  # a base that follows its command exactly
    assert abs(out[0]) < 1e-3  # stopped at the face, sliding along it in y
    assert sup.summary()["interventions"].get("base_workspace", 0) > 0


@pytest.mark.parametrize("which", ["hand", "quad"])
def test_stale_state_nan_window_and_resync(which):
    if which == "hand":
        sup, state = _hand_sup(), (lambda t: _hand_state(np.zeros(22), t))
        good, n, dt = np.zeros(22), 22, 0.05
    else:
        sup, state = _quad_sup(), (lambda t: _quad_state([0.5, -0.2, 0.3], t))
        good, n, dt = np.array([0.2, 0.0, 0.0]), 3, 0.02
    sup.start(state(0.0))
    sup.enable()
    for _ in range(4):  # one new stamp, then frozen for 3 cycles
        sup.filter(good, state(dt))
    assert sup.stopped and "stale_state" in sup.stop_reason
    sup.reset()
    sup.enable()
    bad = np.full(n, np.nan)
    t = dt
    for _ in range(3):  # intermittent NaNs add up within the window
        t += dt
        sup.filter(bad, state(t))
        t += dt
        sup.filter(good, state(t))
    assert sup.stopped and "non_finite_action" in sup.stop_reason
    sup.reset()
    sup.enable()
    t += dt
    sup.filter(good, state(t))
    if which == "quad":  # re-sync: the commanded base restarts at the measured base
        assert np.linalg.norm(sup._bp - np.array([0.5, -0.2])) < 0.05
    else:
        assert np.all(np.abs(sup._q[6:]) < 1e-9)
