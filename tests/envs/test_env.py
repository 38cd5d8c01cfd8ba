import gymnasium as gym
import numpy as np
import pytest

import physai
from physai.core.errors import ConfigError, UnknownNameError


@pytest.fixture(scope="module")
def env():
    e = physai.make("tabletop/pick-place", obs=("state", "images", "instruction"), image_size=(64, 64))
    yield e
    e.close()


def test_observation_contract(env):
    obs, info = env.reset(seed=3)
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (len(env.state_names),)
    for cam in env.camera_names:
        img = obs[f"images/{cam}"]
        assert img.dtype == np.uint8 and img.shape == (64, 64, 3) and img.std() > 1
    assert isinstance(obs["instruction"], str) and obs["instruction"]
    assert env.observation_space.contains(obs)
    assert info["is_success"] is False
    assert env.metadata["render_fps"] == 20


@pytest.mark.parametrize("bad", [np.zeros(6), np.zeros((7, 1)), np.array([np.nan] + [0] * 6),
                                 np.array([np.inf] + [0] * 6)])
def test_bad_actions_refused_without_touching_state(env, bad):
    env.reset(seed=0)
    qpos, qvel, t = env.data.qpos.copy(), env.data.qvel.copy(), env.data.time
    with pytest.raises(ValueError, match=r"\(7,\)"):
        env.step(bad)
    assert np.array_equal(env.data.qpos, qpos) and np.array_equal(env.data.qvel, qvel) and env.data.time == t


def test_out_of_range_actions_clipped_and_counted(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, 0, 0, 0, 0, 0, 2.0], np.float32))
    assert info["clipped"] == 2 and info["clipped_total"] == 2


def test_same_seed_same_trajectory():
    def run():
        e = physai.make("tabletop/pick-place")
        obs, _ = e.reset(seed=11)
        rng = np.random.default_rng(5)
        states = [obs["state"]]
        for _ in range(15):
            obs, *_ = e.step(rng.uniform(e.action_space.low, e.action_space.high).astype(np.float32))
            states.append(obs["state"])
        return np.stack(states), e.task.instruction

    a, ia = run()
    b, ib = run()
    assert np.array_equal(a, b) and ia == ib


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="tabletop/pick-place"):
        physai.make("tabletop/nope")
    with pytest.raises(UnknownNameError, match="ee_delta"):
        physai.make("tabletop/pick-place", control="torque")
    with pytest.raises(ConfigError, match="wrist"):
        physai.make("tabletop/pick-place", cameras=["nope"])


def test_gymnasium_make():
    """The registered gymnasium id is the same env as physai.make: same observations and spaces, same
    trajectory for the same seed and actions."""
    from physai.envs import gym_id  # importing physai.envs registers the ids

    assert gym_id("tabletop/pick-place") == "physai/tabletop-pick-place-v0"
    e = gym.make("physai/tabletop-pick-place-v0")
    ref = physai.make("tabletop/pick-place")
    obs, _ = e.reset(seed=0)
    obs_ref, _ = ref.reset(seed=0)
    assert set(obs) == set(obs_ref)
    assert obs["state"].shape == ref.observation_space["state"].shape
    assert e.observation_space.contains(obs)
    np.testing.assert_array_equal(obs["state"], obs_ref["state"])
    assert e.unwrapped.metadata["render_fps"] == ref.metadata["render_fps"] == ref.task.control_hz
    a = e.action_space.sample() * 0.0
    for _ in range(3):
        obs, *_ = e.step(a)
        obs_ref, *_ = ref.step(a)
    np.testing.assert_array_equal(obs["state"], obs_ref["state"])
    e.close()
    ref.close()


def test_joint_pos_mode_tracks_targets():
    e = physai.make("tabletop/pick-place", control="joint_pos")
    e.reset(seed=0)
    target = e.robot.data.qpos[e.robot.qpos_ids].copy() + np.array([0.2, -0.1, 0, 0.1, 0, 0, 0])
    for _ in range(20):
        e.step(np.append(target, 0.0).astype(np.float32))
    assert np.allclose(e.robot.data.qpos[e.robot.qpos_ids], target, atol=0.02)
