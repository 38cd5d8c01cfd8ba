"""The env's per-step fast paths give exactly what the general code gives."""

import numpy as np
import pytest

import physai


@pytest.fixture(scope="module")
def env():
    e = physai.make("quadruped/patrol")
    yield e
    e.close()


def test_action_fast_path_matches_validate_and_clip(env):
    spec = env.action_spec
    rng = np.random.default_rng(0)
    lo, hi = spec.low.astype(float), spec.high.astype(float)
    cases = [lo, hi, (lo + hi) / 2, lo - 1.0, hi + 1.0] + [rng.uniform(lo - 0.3, hi + 0.3) for _ in range(30)]
    for a in cases:
        a = a.astype(np.float32)
        got, n = env._check_action(a)
        want, n_want = spec.clip(spec.validate(a))
        assert np.array_equal(got, want) and n == n_want and got.dtype == want.dtype
        assert got is not a  # the caller's array is never handed on
    got, n = env._check_action([0.1, 0.0, 0.2])  # plain lists work too
    assert got.dtype == np.float32 and n == 0


def test_state_observation_is_a_fresh_array(env):
    obs, _ = env.reset(seed=1)
    first = obs["state"].copy()
    obs2, *_ = env.step(np.array([0.5, 0.0, 0.0], np.float32))
    assert np.array_equal(obs["state"], first)  # not overwritten by the next step
    n = len(env.robot.state_names())
    assert np.array_equal(obs2["state"][:n], env.robot.state())
    assert np.array_equal(obs2["state"][n:], env.task.state().astype(np.float32))
