"""The arbiter's rules: takeover and hand-back, two sources at once, a device lost mid-takeover."""

from __future__ import annotations

import numpy as np
import pytest

from physai.core.errors import ConfigError
from physai.teleop import ActionArbiter, ControlContext, ScriptedSource, SourceInput

NAMES = ("ee.dx", "ee.dy", "ee.dz", "ee.drx", "ee.dry", "ee.drz", "gripper")
LOW = np.array([-0.05] * 3 + [-0.25] * 3 + [0.0], np.float32)
HIGH = np.array([0.05] * 3 + [0.25] * 3 + [1.0], np.float32)
CTX = ControlContext("ee_delta", 20.0, NAMES, LOW, HIGH)
POLICY = np.array([0.01, 0, 0, 0, 0, 0, 1.0], np.float32)


def _push(x: float = 1.0, engaged: bool = True) -> SourceInput:
    return SourceInput(engaged=engaged, twist=np.array([x, 0, 0, 0, 0, 0], np.float32))


def _arb(*sources) -> ActionArbiter:
    arb = ActionArbiter(list(sources))
    arb.start(CTX)
    return arb


def test_takeover_and_hand_back() -> None:
    idle = SourceInput(engaged=False)
    src = ScriptedSource([idle, _push(), _push(), idle], name="kb", hold_last=True)
    arb = _arb(src)
    labels = [arb.select({}, POLICY) for _ in range(5)]
    assert [d.label for d in labels] == ["policy", "human", "human", "policy", "policy"]
    assert labels[0].action is POLICY
    # full deflection at 20 Hz: 0.15 m/s -> 7.5 mm per step, gripper kept from the policy (closed)
    np.testing.assert_allclose(labels[1].action, [0.0075, 0, 0, 0, 0, 0, 1.0], atol=1e-6)
    assert [e for e, _ in src.events] == ["granted", "released"]
    assert arb.summary()["steps"] == {"policy": 3, "human": 2, "hold": 0}


def test_two_sources_at_once_one_wins_other_is_told() -> None:
    a = ScriptedSource([_push(1.0)] * 3, name="browser")
    b = ScriptedSource([_push(-1.0)] * 3, name="keyboard")
    arb = _arb(a, b)
    ds = [arb.select({}, POLICY) for _ in range(3)]
    assert all(d.source == "browser" and d.label == "human" for d in ds)
    assert all(d.action[0] > 0 for d in ds)  # the winner's command, never the other's
    assert a.events == [("granted", "you hold control")]
    assert b.events == [("denied", "browser holds control")]  # told once, not every cycle


def test_device_lost_mid_takeover_holds_and_marks() -> None:
    src = ScriptedSource([SourceInput(engaged=False), _push(), _push()], name="pad")  # then disconnected
    arb = _arb(src)
    ds = [arb.select({}, POLICY) for _ in range(5)]
    assert [d.label for d in ds] == ["policy", "human", "human", "hold", "hold"]
    for d in ds[3:]:  # the robot holds: no motion, the gripper as last commanded (the policy's)
        np.testing.assert_array_equal(d.action, [0, 0, 0, 0, 0, 0, 1.0])
    assert ("lost", "device disconnected while in control; the robot holds") in src.events
    assert any(e["event"] == "disconnected" for e in arb.summary()["events"])


def test_lost_device_comes_back_and_another_can_take_over() -> None:
    pad = ScriptedSource(
        [_push(), SourceInput(connected=False), SourceInput(engaged=False), _push()], name="pad"
    )
    arb = _arb(pad)
    labels = [arb.select({}, POLICY).label for _ in range(4)]
    assert labels == ["human", "hold", "hold", "human"]  # reconnecting alone does not hand back
    assert [e for e, _ in pad.events] == ["granted", "lost", "resumed"]
    pad2 = ScriptedSource([_push(), SourceInput(connected=False)], name="pad")
    kb = ScriptedSource([SourceInput(engaged=False), SourceInput(engaged=False), _push(-1)], name="kb")
    arb = _arb(pad2, kb)
    labels = [arb.select({}, POLICY) for _ in range(3)]
    assert [d.label for d in labels] == ["human", "hold", "human"] and labels[2].source == "kb"
    assert ("preempted", "kb took over after the device was lost") in pad2.events


def test_a_source_that_raises_counts_as_disconnected() -> None:
    class Broken(ScriptedSource):
        def poll(self, obs, proposal):
            if self.i >= 1:
                raise OSError("usb gone")
            return super().poll(obs, proposal)

    src = Broken([_push()], name="pad")
    arb = _arb(src)
    assert [arb.select({}, POLICY).label for _ in range(2)] == ["human", "hold"]
    assert any(e["event"] == "error" and "usb gone" in e["detail"] for e in arb.log)


def test_plain_teleop_holds_without_an_operator() -> None:
    arb = ActionArbiter([ScriptedSource([SourceInput(engaged=False)], name="kb")], policy=False)
    arb.start(CTX)
    d = arb.select({}, None)
    assert d.label == "hold" and not d.action[:6].any()


def test_policy_late_stays_none_for_the_runtime_watchdog() -> None:
    arb = _arb(ScriptedSource([SourceInput(engaged=False)], name="kb"))
    d = arb.select({}, None)
    assert d.action is None and d.label == "policy"


def test_duplicate_names_and_unmappable_modes_refused() -> None:
    with pytest.raises(ConfigError, match="distinct names"):
        ActionArbiter([ScriptedSource([], name="a"), ScriptedSource([], name="a")])
    arb = ActionArbiter([ScriptedSource([], name="a")])
    ctx = ControlContext("joint_pos", 20.0, ("joint1",), np.zeros(1), np.ones(1))
    with pytest.raises(ConfigError, match="joint_pos"):
        arb.start(ctx)
