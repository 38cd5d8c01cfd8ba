"""The policy contract: JSON round trip, versioning, validation, and the robot check every boundary makes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from physai.core.contract import CONTRACT_VERSION, Camera, Execution, PolicyContract
from physai.core.errors import ConfigError, SafetyError


def _contract(**kw) -> PolicyContract:
    base = dict(
        embodiment="arm7", control="ee_delta", control_hz=20.0, state_names=("q0", "q1"),
        action_names=("ee.dx", "ee.dy", "grip"), chunk_size=8,
        execution=Execution("ensemble", horizon=1, ensemble_coef=0.01),
        cameras=(Camera("scene", 64, 64), Camera("wrist", 64, 64)), tactile_dim=0,
        instruction="input", tokenizer={"kind": "hashed", "n_buckets": 64, "max_tokens": 4},
        action_low=(-1.0, -1.0, 0.0), action_high=(1.0, 1.0, 1.0), privileged=True, tasks=("pick it",),
    )
    return PolicyContract(**{**base, **kw})


def _robot(**kw) -> SimpleNamespace:
    base = dict(embodiment="arm7", control="ee_delta", hz=20.0, state_names=["q0", "q1"],
                action_names=["ee.dx", "ee.dy", "grip"], cameras=["scene", "wrist"], image_size=(64, 64),
                tactile_dim=0)
    return SimpleNamespace(**{**base, **kw})


def test_json_round_trip_is_exact():
    c = _contract()
    back = PolicyContract.from_json(c.to_json())
    assert back == c and back.version == CONTRACT_VERSION
    assert [i["name"] for i in c.model_inputs()] == ["state", "images/scene", "images/wrist", "instruction"]
    assert c.tokens("pick the red cube").shape == (4,)


def test_unknown_version_and_fields_are_refused_with_the_fix():
    d = _contract().to_dict()
    with pytest.raises(ConfigError, match="contract version 99.*re-export"):
        PolicyContract.from_dict({**d, "version": 99}, "pkg/policy.json")
    with pytest.raises(ConfigError, match="unknown fields \\['fps'\\]"):
        PolicyContract.from_dict({**d, "fps": 20}, "pkg/policy.json")
    with pytest.raises(ConfigError, match="malformed"):
        PolicyContract.from_dict({**d, "chunk_size": "many"}, "pkg/policy.json")


@pytest.mark.parametrize(
    ("bad", "msg"),
    [
        ({"control_hz": 0.0}, "positive rate"),
        ({"execution": Execution("queue", horizon=9)}, "exceeds chunk_size"),
        ({"cameras": (Camera("a", 64, 64), Camera("b", 32, 32))}, "one image size"),
        ({"instruction": "input", "tokenizer": None}, "needs the tokenizer"),
        ({"action_low": (0.0,)}, "bounds have 1 elements"),
    ],
)
def test_invalid_contracts_are_refused(bad, msg):
    with pytest.raises(ConfigError, match=msg):
        _contract(**bad)


def test_ensemble_needs_a_coefficient():
    with pytest.raises(ConfigError, match="ensemble_coef"):
        Execution("ensemble", horizon=1)


@pytest.mark.parametrize(
    ("robot", "names"),
    [
        (_robot(hz=50.0), ["20 Hz", "50 Hz"]),
        (_robot(embodiment="bimanual"), ["'arm7'", "'bimanual'"]),
        (_robot(control="joint_pos"), ["'ee_delta'", "'joint_pos'"]),
        (_robot(cameras=["scene"]), ["missing ['wrist']"]),
        (_robot(image_size=(128, 128)), ["64x64", "128x128"]),
        (_robot(state_names=["q0", "q1", "obj.x"]), ["2 elements", "3"]),
    ],
)
def test_a_mismatched_robot_is_refused_naming_both_sides(robot, names):
    with pytest.raises(SafetyError) as err:
        _contract().check_robot(robot, who="package P")
    for n in names:
        assert n in str(err.value)


def test_the_matching_robot_passes_and_env_kwargs_carry_the_rate():
    c = _contract()
    c.check_robot(_robot())
    kw = c.env_kwargs()
    assert kw["control_hz"] == 20.0 and kw["cameras"] == ["scene", "wrist"] and kw["image_size"] == (64, 64)
    assert kw["obs"] == ("state", "images", "instruction")
