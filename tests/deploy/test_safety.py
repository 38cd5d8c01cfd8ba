"""Safety supervisor: property tests (hypothesis) that no command past it violates a limit, plus
watchdog, NaN handling, e-stop latching and the intervention log."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from physai.deploy.safety import HOLDING, RUNNING, STOPPED, RobotState, SafetySupervisor, SupervisorConfig
from physai.embodiments import make_embodiment

ARM = make_embodiment("arm7")
LIM = ARM.safety_limits()
DT = 0.05
EPS = 1e-7

adversarial = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, 1e30, -1e30, float("nan"), float("inf"), -float("inf"), 3.0, -3.0]),
)


def make(mode: str, **cfg) -> SafetySupervisor:
    spec = ARM.action_spec(mode)
    return SafetySupervisor(LIM, mode, DT, list(spec.names), spec.low, spec.high, SupervisorConfig(**cfg))


def home_state() -> RobotState:
    q = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
    return RobotState(joint_pos=q, ee_pos=np.array([[0.5, 0.0, 0.8]]), wrench=np.zeros((1, 6)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(adversarial, min_size=8, max_size=8), min_size=1, max_size=60))
def test_joint_commands_never_violate_limits(stream):
    sup = make("joint_pos", nan_hold_cycles=10**6)
    s = home_state()
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
        assert 0.0 <= cmd[7] <= 1.0
        prev_q, prev_v = q, v


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(adversarial, min_size=7, max_size=7), min_size=1, max_size=40),
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    st.booleans(),
)
def test_ee_commands_respect_speed_cap_and_workspace(stream, ee, collaborative):
    sup = make("ee_delta", collaborative=collaborative, nan_hold_cycles=10**6)
    spec = ARM.action_spec("ee_delta")
    s = home_state()
    s.ee_pos = np.clip(np.array([ee]), LIM.workspace_low, LIM.workspace_high)
    sup.start(s)
    sup.enable()
    cap = LIM.ee_speed_collaborative if collaborative else LIM.ee_speed_max
    for a in stream:
        cmd = sup.filter(np.array(a), s).astype(np.float64)
        assert np.all(np.isfinite(cmd))
        assert np.linalg.norm(cmd[:3]) / DT <= cap + EPS
        tgt = s.ee_pos[0] + cmd[:3]
        assert np.all(tgt >= LIM.workspace_low - 1e-6) and np.all(tgt <= LIM.workspace_high + 1e-6)
        assert np.all(cmd >= spec.low - 1e-6) and np.all(cmd <= spec.high + 1e-6)
        s.ee_pos = np.clip(tgt[None], LIM.workspace_low, LIM.workspace_high)


def test_nan_holds_then_stops_and_estop_latches(tmp_path):
    log = tmp_path / "interventions.jsonl"
    sup = make("ee_delta", nan_hold_cycles=2, log_path=log)
    s = home_state()
    sup.start(s)
    assert sup.state == HOLDING
    sup.enable()
    good = np.array([0.01, 0, 0, 0, 0, 0, 1.0])
    assert np.allclose(sup.filter(good, s), good)
    bad = np.array([np.nan, 0, 0, 0, 0, 0, 1.0])
    for _ in range(2):
        held = sup.filter(bad, s)
        assert np.allclose(held[:6], 0) and held[6] == 1.0 and sup.state == RUNNING
    sup.filter(bad, s)
    assert sup.state == STOPPED and "non_finite_action" in sup.stop_reason
    assert np.allclose(sup.filter(good, s)[:6], 0)
    sup.reset()
    assert sup.state == HOLDING
    assert np.allclose(sup.filter(good, s)[:6], 0), "reset must not restart motion by itself"
    sup.enable()
    assert np.allclose(sup.filter(good, s), good)
    sup.estop("button")
    for _ in range(3):
        assert np.allclose(sup.filter(good, s)[:6], 0)
    try:
        sup.enable()
        raise AssertionError("enable() must refuse while latched")
    except Exception as exc:  # noqa: BLE001
        assert "reset" in str(exc)
    sup.close()
    rules = [json.loads(line)["rule"] for line in log.read_text().splitlines()]
    assert "non_finite_action" in rules and "estop" in rules and "reset" in rules
    entry = json.loads(log.read_text().splitlines()[0])
    assert {"t", "rule", "before", "after"} <= set(entry)


def test_watchdog_force_torque_and_tactile_stop():
    sup = make("joint_pos", watchdog_cycles=3)
    s = home_state()
    sup.start(s)
    sup.enable()
    for late in (True, True, False, True, True):
        sup.watchdog(late)
    assert sup.state == RUNNING, "only consecutive late cycles count"
    sup.watchdog(True)
    assert sup.state == STOPPED and sup.stop_reason.startswith("watchdog")
    # a controlled stop decelerates within the limits and ends at rest
    sup = make("joint_pos")
    sup.start(s)
    sup.enable()
    for _ in range(10):
        sup.filter(np.append(s.joint_pos + 1.0, 0.0), s)
    sup.estop()
    qs = [sup.filter(np.zeros(8), s)[:7].astype(float) for _ in range(40)]
    v = np.diff(qs, axis=0) / DT
    assert np.all(np.abs(np.diff(v, axis=0)) <= LIM.joint_acc_max * DT + 1e-3)
    assert np.allclose(v[-1], 0)
    # wrist force
    sup = make("ee_delta")
    sup.start(s)
    sup.enable()
    hit = RobotState(s.joint_pos, s.ee_pos, np.array([[0, 0, LIM.force_max + 1, 0, 0, 0]]))
    sup.filter(np.zeros(7), hit)
    assert sup.stop_reason.startswith("wrist_force")
    sup = make("ee_delta")
    sup.start(s)
    sup.enable()
    sup.filter(
        np.zeros(7), RobotState(s.joint_pos, s.ee_pos, np.array([[0, 0, 0, 0, LIM.torque_max + 1, 0]]))
    )
    assert sup.stop_reason.startswith("wrist_torque")
    from dataclasses import replace

    tac = SafetySupervisor(
        replace(LIM, tactile_force_max=5.0),
        "ee_delta",
        DT,
        list(ARM.action_spec("ee_delta").names),
        ARM.action_spec("ee_delta").low,
        ARM.action_spec("ee_delta").high,
    )
    tac.start(s)
    tac.enable()
    tac.filter(np.zeros(7), RobotState(s.joint_pos, s.ee_pos, None, np.array([0.1, 7.0])))
    assert tac.stop_reason.startswith("tactile_force")


def test_joint_mode_monitors_measured_tcp_speed_and_workspace():
    s = home_state()
    sup = make("joint_pos")
    sup.start(s)
    sup.enable()
    for x in (0.5, 0.505, 0.51):  # 0.1 m/s: fine
        sup.filter(np.append(s.joint_pos, 0.0), RobotState(s.joint_pos, np.array([[x, 0, 0.8]])))
    assert sup.state == RUNNING
    sup.filter(np.append(s.joint_pos, 0.0), RobotState(s.joint_pos, np.array([[0.53, 0, 0.8]])))  # 0.4 m/s
    assert sup.stop_reason.startswith("ee_speed_measured")
    sup = make("joint_pos")
    sup.start(s)
    sup.enable()
    sup.filter(
        np.append(s.joint_pos, 0.0),
        RobotState(s.joint_pos, np.array([[0.5, 0, LIM.workspace_low[2] - 0.05]])),
    )
    assert sup.stop_reason.startswith("workspace_measured")
