"""Safety supervisor: property tests (hypothesis) that no command past it violates a limit, plus
watchdog, NaN handling, stale state, re-sync at start, e-stop latching and the intervention log.

No test sleeps or asserts on wall-clock time: the robot state carries its own stamp, advanced by hand.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physai.core.errors import ConfigError, SafetyError
from physai.deploy.safety import HOLDING, RUNNING, STOPPED, RobotState, SafetySupervisor, SupervisorConfig
from physai.embodiments import make_embodiment

ARM = make_embodiment("arm7")
LIM = ARM.safety_limits()
KIN = ARM.kinematics()
DT = 0.05
EPS = 1e-7
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
LEVER = float(np.linalg.norm(KIN.flange_offset[0]))

adversarial = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, 1e30, -1e30, float("nan"), float("inf"), -float("inf"), 3.0, -3.0]),
)


def make(mode: str, limits=LIM, **cfg) -> SafetySupervisor:
    spec = ARM.action_spec(mode)
    return SafetySupervisor(
        limits, mode, DT, list(spec.names), spec.low, spec.high, SupervisorConfig(**cfg), kinematics=KIN
    )


def state_at(q: np.ndarray, stamp: float = 0.0, **kw) -> RobotState:
    """A consistent measured state: the TCP where the arm's kinematics put it for joints `q`."""
    q = np.asarray(q, float)
    ee = KIN.points(q)[:, 0].copy()
    return RobotState(joint_pos=q, ee_pos=ee, wrench=np.zeros((1, 6)), stamp=stamp, **kw)


def tick(s: RobotState, dt: float = DT) -> RobotState:
    """The same measurement, newly stamped (a robot at rest)."""
    return replace(s, stamp=s.stamp + dt)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(adversarial, min_size=8, max_size=8), min_size=1, max_size=60))
def test_joint_commands_never_violate_limits(stream):
    """An arm that tracks its commands exactly: every command within position, velocity, acceleration
    limits and the predicted TCP speed (FK of consecutive commands) under the cap."""
    sup = make("joint_pos", nan_hold_cycles=10**6)
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    prev_q, prev_v = s.joint_pos.copy(), np.zeros(7)
    for a in stream:
        cmd = sup.filter(np.array(a), s).astype(np.float64)
        q = cmd[:7]
        assert np.all(np.isfinite(cmd))
        assert np.all(q >= LIM.joint_pos_lower - 1e-5) and np.all(q <= LIM.joint_pos_upper + 1e-5)
        v = (q - prev_q) / DT
        assert np.all(np.abs(v) <= LIM.joint_vel_max * (1 + 1e-4) + 1e-3)
        assert np.all(np.abs(v - prev_v) <= LIM.joint_acc_max * DT * (1 + 1e-4) + 1e-3)
        tcp_speed = np.linalg.norm(KIN.points(q) - KIN.points(prev_q), axis=-1).max() / DT
        assert tcp_speed <= LIM.ee_speed_collaborative * 1.02 + 1e-3
        assert 0.0 <= cmd[7] <= 1.0
        prev_q, prev_v = q, v
        s = state_at(q, s.stamp + DT)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(adversarial, min_size=7, max_size=7), min_size=1, max_size=40),
    st.lists(st.floats(-0.08, 0.08), min_size=6, max_size=6),
    st.booleans(),
)
def test_ee_commands_respect_speed_cap_lead_and_workspace(stream, box, collaborative):
    """A blocked arm (the measured state never moves) with a workspace face a few cm away: the
    commanded pose stays in the box and within the lead, each step under the cap (TCP + lever)."""
    home = KIN.points(HOME)[0, 0]
    lo = home - 0.005 - np.abs(box[:3])
    hi = home + 0.005 + np.abs(box[3:])
    sup = make("ee_delta", replace(LIM, workspace_low=lo, workspace_high=hi), collaborative=collaborative,
               nan_hold_cycles=10**6)
    spec = ARM.action_spec("ee_delta")
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    cap = LIM.ee_speed_collaborative if collaborative else LIM.ee_speed_max
    for a in stream:
        s = tick(s)
        cmd = sup.filter(np.array(a), s).astype(np.float64)
        assert np.all(np.isfinite(cmd))
        assert np.all(cmd >= spec.low - 1e-6) and np.all(cmd <= spec.high + 1e-6)
        assert (np.linalg.norm(cmd[:3]) + LEVER * np.linalg.norm(cmd[3:6])) / DT <= cap * (1 + 1e-6) + EPS
        tgt = sup._tp[0]
        assert np.all(tgt >= lo - 1e-9) and np.all(tgt <= hi + 1e-9)
        assert np.linalg.norm(tgt - home) <= sup.lead + 1e-6


def test_nan_holds_then_stops_and_estop_latches(tmp_path):
    log = tmp_path / "interventions.jsonl"
    sup = make("ee_delta", nan_hold_cycles=2, log_path=log)
    s = state_at(HOME)
    sup.start(s)
    assert sup.state == HOLDING
    sup.enable()
    good = np.array([0.01, 0, 0, 0, 0, 0, 1.0])
    s = tick(s)
    assert np.allclose(sup.filter(good, s), good)
    bad = np.array([np.nan, 0, 0, 0, 0, 0, 1.0])
    for _ in range(2):
        s = tick(s)
        held = sup.filter(bad, s)
        assert held[6] == 1.0 and sup.state == RUNNING
        assert np.linalg.norm(held[:3]) <= 0.01 + 1e-6, "a hold never moves the command further"
    s = tick(s)
    sup.filter(bad, s)
    assert sup.state == STOPPED and "non_finite_action" in sup.stop_reason
    s = tick(s)
    assert np.linalg.norm(sup.filter(good, s)[:3]) <= 0.01
    sup.reset()
    assert sup.state == HOLDING
    for _ in range(3):
        s = tick(s)
        held = sup.filter(good, s)
    assert np.allclose(held[:6], 0), "reset must not restart motion by itself"
    sup.enable()
    s = tick(s)
    cmd = sup.filter(good, s)
    assert 0 < cmd[0] <= good[0] and cmd[6] == 1.0, "enable() lets commands through again (lead-limited)"
    sup.estop("button")
    s = tick(s)
    sup.filter(good, s)
    for _ in range(3):
        s = tick(s)
        assert np.allclose(sup.filter(good, s)[:6], 0)
    with pytest.raises(ConfigError, match="reset"):
        sup.enable()
    sup.close()
    rules = [json.loads(line)["rule"] for line in log.read_text().splitlines()]
    assert "non_finite_action" in rules and "estop" in rules and "reset" in rules
    entry = json.loads(log.read_text().splitlines()[0])
    assert {"t", "rule", "before", "after"} <= set(entry)


def test_intermittent_nan_stops_within_the_window():
    """NaN every other action never makes a run of two, yet adds up within the window and stops."""
    sup = make("joint_pos", nan_hold_cycles=2, nan_window=20)
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    good = np.append(HOME, 0.0)
    bad = np.append(np.full(7, np.nan), 0.0)
    n = 0
    while sup.state == RUNNING and n < 50:
        s = tick(s)
        sup.filter(bad if n % 2 else good, s)
        n += 1
    assert sup.state == STOPPED and sup.stop_reason.startswith("non_finite_action")
    assert n == 6, "the third invalid action within the window stops"
    # spread out beyond the window, they never add up
    sup = make("joint_pos", nan_hold_cycles=2, nan_window=5)
    sup.start(s)
    sup.enable()
    for n in range(60):
        s = tick(s)
        sup.filter(bad if n % 5 == 0 else good, s)
    assert sup.state == RUNNING


def test_stale_state_stops_and_a_state_without_stamp_is_refused():
    sup = make("joint_pos", stale_cycles=3)
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    for _ in range(5):
        s = tick(s)
        sup.filter(np.append(HOME, 0.0), s)
    assert sup.state == RUNNING
    for _ in range(2):
        sup.filter(np.append(HOME, 0.0), s)  # the same stamp: a frozen state
    assert sup.state == RUNNING
    sup.filter(np.append(HOME, 0.0), s)
    assert sup.state == STOPPED and sup.stop_reason.startswith("stale_state")
    with pytest.raises(SafetyError, match="stamp"):
        make("joint_pos").start(replace(s, stamp=None))
    make("joint_pos", stale_cycles=0).start(replace(s, stamp=None))  # explicitly accepted


def test_ee_delta_refused_without_tcp_pose_or_with_mismatched_kinematics():
    with pytest.raises(SafetyError, match="TCP pose"):
        make("ee_delta").start(replace(state_at(HOME), ee_pos=None))
    with pytest.raises(SafetyError, match="does not match"):
        make("ee_delta").start(replace(state_at(HOME), ee_pos=KIN.points(HOME)[:, 0] + 0.1))
    spec = ARM.action_spec("ee_delta")
    with pytest.raises(ConfigError, match="kinematics"):
        SafetySupervisor(LIM, "ee_delta", DT, list(spec.names), spec.low, spec.high)


@pytest.mark.parametrize("case", ["beyond_limit", "in_margin"])
def test_start_outside_limits_ramps_back_within_velocity_limits(case):
    """Starting beyond a joint limit (or inside the margin) the command starts where the arm is and
    ramps back inside at most at the velocity and acceleration limits (no step)."""
    margin = 0.1
    q0 = HOME.copy()
    if case == "beyond_limit":
        q0[3] = LIM.joint_pos_upper[3] + 0.05
        q0[0] = LIM.joint_pos_lower[0] - 0.05
    else:
        q0[3] = LIM.joint_pos_upper[3] - 0.02
        q0[0] = LIM.joint_pos_lower[0] + 0.03
    for dt in (0.05, 0.01, 0.002):
        sup = SafetySupervisor(LIM, "joint_pos", dt, list(ARM.action_spec("joint_pos").names),
                               ARM.action_spec("joint_pos").low, ARM.action_spec("joint_pos").high,
                               SupervisorConfig(joint_margin=margin), kinematics=KIN)
        s = state_at(q0)
        sup.start(s)
        hold = sup.filter(None, tick(s, dt)).astype(float)
        assert np.allclose(hold[:7], q0, atol=1e-6), "holding at start commands the measured joints"
        sup.enable()
        prev, prev_v = q0, np.zeros(7)
        for _ in range(int(2.0 / dt)):
            s = tick(s, dt)
            q = sup.filter(np.append(q0, 0.0), s)[:7].astype(float)
            v = (q - prev) / dt
            assert np.all(np.abs(v) <= LIM.joint_vel_max + 1e-3)
            assert np.all(np.abs(v - prev_v) <= LIM.joint_acc_max * dt + 1e-3)
            prev, prev_v = q, v
            s = state_at(q, s.stamp)
        assert np.all(prev >= LIM.joint_pos_lower + margin - 1e-6)
        assert np.all(prev <= LIM.joint_pos_upper - margin + 1e-6)


def test_reset_and_enable_resync_to_the_measured_joints():
    sup = make("joint_pos")
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    for _ in range(5):
        s = tick(s)
        sup.filter(np.append(HOME, 0.0), s)
    sup.estop("test")
    moved = HOME + np.array([0.56, 0, 0, 0, 0, 0, 0])  # the arm was pushed while stopped
    s = state_at(moved, s.stamp + DT)
    sup.filter(None, s)
    sup.reset()
    s = tick(s)
    held = sup.filter(np.append(HOME, 0.0), s)[:7]
    assert np.allclose(held, moved, atol=1e-6), "after reset the supervisor holds where the arm is"
    sup.enable()
    s = tick(s)
    cmd = sup.filter(np.append(HOME, 0.0), s)[:7].astype(float)
    assert np.all(np.abs(cmd - moved) <= LIM.joint_acc_max * DT * DT + 1e-6), "enable re-syncs, at rest"


def test_supervisor_uses_the_real_period():
    """A loop that runs faster than its nominal rate gets proportionally smaller steps."""
    sup = make("ee_delta")
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    s = tick(s, 0.01)
    cmd = sup.filter(np.array([0.05, 0, 0, 0, 0, 0, 0]), s, dt=0.01)
    assert np.linalg.norm(cmd[:3]) <= LIM.ee_speed_collaborative * 0.01 + 1e-7


def test_watchdog_force_torque_and_tactile_stop():
    sup = make("joint_pos", watchdog_cycles=3)
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    for late in (True, True, False, True, True):
        sup.watchdog(late)
    assert sup.state == RUNNING, "only consecutive late cycles count"
    sup.watchdog(True)
    assert sup.state == STOPPED and sup.stop_reason.startswith("watchdog")
    # a controlled stop decelerates within the limits and ends at rest (the arm tracks its command)
    sup = make("joint_pos")
    sup.start(s)
    sup.enable()
    for _ in range(10):
        q = sup.filter(np.append(s.joint_pos + 1.0, 0.0), tick(s))[:7]
        s = state_at(q.astype(float), s.stamp + DT)
    sup.estop()
    qs = []
    for _ in range(40):
        qs.append(sup.filter(np.zeros(8), tick(s))[:7].astype(float))
        s = state_at(qs[-1], s.stamp + DT)
    v = np.diff(qs, axis=0) / DT
    assert np.all(np.abs(np.diff(v, axis=0)) <= LIM.joint_acc_max * DT + 1e-3)
    assert np.allclose(v[-1], 0)
    # wrist force
    s = state_at(HOME)
    sup = make("ee_delta")
    sup.start(s)
    sup.enable()
    sup.filter(np.zeros(7), replace(tick(s), wrench=np.array([[0, 0, LIM.force_max + 1, 0, 0, 0]])))
    assert sup.stop_reason.startswith("wrist_force")
    sup = make("ee_delta")
    sup.start(s)
    sup.enable()
    sup.filter(np.zeros(7), replace(tick(s), wrench=np.array([[0, 0, 0, 0, LIM.torque_max + 1, 0]])))
    assert sup.stop_reason.startswith("wrist_torque")
    tac = make("ee_delta", replace(LIM, tactile_force_max=5.0))
    tac.start(s)
    tac.enable()
    tac.filter(np.zeros(7), replace(tick(s), wrench=None, tactile=np.array([0.1, 7.0])))
    assert tac.stop_reason.startswith("tactile_force")


def test_measured_tcp_speed_and_workspace_monitors():
    for mode in ("joint_pos", "ee_delta"):
        s = state_at(HOME)
        sup = make(mode)
        sup.start(s)
        sup.enable()
        hold = np.append(HOME, 0.0) if mode == "joint_pos" else np.zeros(7)
        ee0 = s.ee_pos[0]
        for dx in (0.005, 0.01, 0.015):  # 0.1 m/s: fine
            sup.filter(hold, replace(tick(s, dx * 10), ee_pos=(ee0 + [dx, 0, 0])[None]))
            s = replace(s, stamp=s.stamp + dx * 10)
        assert sup.state == RUNNING
        sup.filter(hold, replace(tick(s), ee_pos=(ee0 + [0.035, 0, 0])[None]))  # 0.4 m/s
        assert sup.stop_reason.startswith("ee_speed_measured"), mode
    sup = make("joint_pos")
    s = state_at(HOME)
    sup.start(s)
    sup.enable()
    low = np.array([[0.5, 0, LIM.workspace_low[2] - 0.05]])
    sup.filter(np.append(HOME, 0.0), replace(tick(s, 100.0), ee_pos=low))
    assert sup.stop_reason.startswith("workspace_measured")
