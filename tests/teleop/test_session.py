"""Arbitrated episodes on a real env: a device lost mid-takeover holds the measured arm still and the
steps are marked; the keyboard source from a pipe; the scripted expert takes over a straying policy."""

from __future__ import annotations

import os

import numpy as np
import pytest

import physai
from physai.core.errors import ConfigError
from physai.data.dataset import Dataset
from physai.teleop import ActionArbiter, ScriptedSource, SourceInput, context_from_env
from physai.teleop.session import open_writer, run_episode_arbitrated


class Still:
    """A policy that keeps the arm where it is (zero deltas, gripper open)."""

    def reset(self) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        return np.zeros(7, np.float32)


@pytest.fixture(scope="module")
def env():
    e = physai.make("tabletop/stack", obs=("state", "instruction"), max_steps=40)
    yield e
    e.close()


def test_device_lost_mid_takeover_holds_the_measured_arm(env, tmp_path) -> None:
    up = SourceInput(engaged=True, twist=np.array([0, 0, 1, 0, 0, 0], np.float32))
    src = ScriptedSource([SourceInput()] * 3 + [up] * 12, name="pad")  # then the device is gone
    arb = ActionArbiter([src])
    arb.start(context_from_env(env))
    with open_writer(env, tmp_path / "ds") as w:
        r = run_episode_arbitrated(env, arb, seed=1, policy=Still(), writer=w, keep_failures=True)
    assert r.steps == {"policy": 3, "human": 12, "hold": 25} and r.kept
    assert [e["event"] for e in r.events] == ["granted", "disconnected", "lost"]
    ds = Dataset(tmp_path / "ds")
    src_col = np.asarray(ds.arrays()["control_source"]).reshape(-1)
    assert src_col.tolist() == [0] * 3 + [1] * 12 + [2] * 25
    z = ds.arrays()["observation.state"][:, list(env.state_names).index("ee.pos.z")]
    assert z[15] - z[2] > 0.05  # the operator lifted the arm
    assert abs(z[-1] - z[25]) < 0.003  # and it held once the device was gone (measured, not commanded)
    assert not ds.arrays()["action"][15:, :6].any()


def test_expert_takes_over_a_straying_policy_and_hands_back(env) -> None:
    from physai.teleop.expert import ExpertSource, ExpertTakeoverConfig

    class Wrong(Still):
        def act(self, obs: dict) -> np.ndarray:
            return np.array([0, 0, 0.05, 0, 0, 0, 1.0], np.float32)  # up and closed: never the expert's

    src = ExpertSource(config=ExpertTakeoverConfig(threshold=0.3, patience=2, min_steps=5))
    arb = ActionArbiter([src])
    arb.start(context_from_env(env))
    r = run_episode_arbitrated(env, arb, seed=2, policy=Wrong())
    events = [(e["event"], e["cycle"]) for e in r.events]
    assert events[0] == ("granted", 1)  # strays from the first step: taken over after `patience` cycles
    # the policy's "up, closed" matches the expert while it lifts the cube: handed back, then taken again
    assert [e for e, _ in events] == ["granted", "released", "granted"]
    assert r.steps["human"] > 5 * r.steps["policy"] > 0
    assert src.last_disagreement > 0.3


def test_expert_source_needs_a_simulator() -> None:
    from physai.teleop import ControlContext
    from physai.teleop.expert import ExpertSource

    ctx = ControlContext("ee_delta", 20.0, ("ee.dx",), np.zeros(1), np.ones(1))
    with pytest.raises(ConfigError, match="sim: robot"):
        ExpertSource().open(ctx)


def test_keyboard_from_a_pipe() -> None:
    from physai.teleop.devices import KeyboardSource

    rfd, wfd = os.pipe()
    now = [0.0]
    kb = KeyboardSource(fd=rfd, clock=lambda: now[0], hold_s=0.3)
    kb.open(
        context_from_env.__globals__["ControlContext"]("ee_delta", 20.0, ("ee.dx",), np.zeros(1), np.ones(1))
    )
    try:
        os.write(wfd, b"wq \x1b[D")
        a = kb.poll({}, None)
        assert a.connected and a.engaged and a.gripper == 1.0
        assert a.twist.tolist() == [1, 1, 0, 0, 0, 1]  # w: +x, q: +yaw, left arrow: +y
        now[0] = 0.2
        assert kb.poll({}, None).twist.tolist() == [1, 1, 0, 0, 0, 1]  # still held (auto-repeat gap)
        now[0] = 0.5
        assert not kb.poll({}, None).twist.any()  # released
        os.write(wfd, b"\x1b[")  # an arrow key split across reads
        assert not kb.poll({}, None).twist.any()
        os.write(wfd, b"Ct\n")
        b = kb.poll({}, None)
        assert b.twist[1] == -1 and not b.engaged and b.events == ("save",)
        os.close(wfd)
        assert not kb.poll({}, None).connected  # end of input: the device is gone
    finally:
        kb.close()
        os.close(rfd)


def test_optional_devices_say_what_to_install() -> None:
    from physai.teleop.devices import GamepadSource, SpaceMouseSource, parse_spacemouse

    for cls, pkg in ((GamepadSource, "pygame"), (SpaceMouseSource, "hidapi")):
        try:
            cls()
        except ConfigError as exc:
            assert f"pip install {pkg}" in str(exc)
    axes = np.zeros(6)
    parse_spacemouse(bytes([1]) + np.array([350, -175, 0], "<i2").tobytes(), axes)
    parse_spacemouse(bytes([2]) + np.array([0, 0, 700], "<i2").tobytes(), axes)
    assert axes.tolist() == [1.0, -0.5, 0.0, 0.0, 0.0, 1.0]
    assert parse_spacemouse(bytes([3, 2, 0]), axes) == 2
