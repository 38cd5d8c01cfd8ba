"""Dexterous task rules the generic every-task test does not cover."""

import numpy as np

import physai
from physai.envs import run_episode
from physai.tasks.dexterous.gentle_grasp import BREAK_FORCE
from physai.tasks.dexterous.grasp_lift import GraspExpert


def test_gentle_grasp_expert_stays_under_the_break_force():
    env = physai.make("dexterous/gentle-grasp", obs=("state", "tactile"))
    r = run_episode(env, env.expert(), seed=0)
    assert r.success and env.task.peak_force < BREAK_FORCE


def test_squeezing_hard_breaks_the_fragile_object():
    env = physai.make("dexterous/gentle-grasp")
    brute = GraspExpert(env.task, grip_target=np.full(4, 8.0), grip_high=np.full(4, 20.0), lift=0.09)
    r = run_episode(env, brute, seed=0)
    assert not r.success and env.task.broken and env.task.peak_force > BREAK_FORCE


def test_tactile_observation_matches_layout():
    env = physai.make("dexterous/grasp-lift", obs=("state", "tactile"))
    obs, _ = env.reset(seed=0)
    assert obs["tactile"].shape == (4, 3, 4, 4)
    assert env.observation_space["tactile"].shape == (4, 3, 4, 4)
