"""Quadruped task rules that the generic every-task test does not cover."""

import numpy as np

import physai


def test_false_report_fails_inspect():
    env = physai.make("quadruped/inspect")
    env.reset(seed=0)
    _, _, term, _, info = env.step(np.array([0, 0, 0, 1.0], np.float32))  # report far from the hazard
    assert term and info["failed"] and not info["is_success"]


def test_patrol_counts_waypoints_in_order():
    env = physai.make("quadruped/patrol")
    env.reset(seed=0)
    t = env.task
    second = t.waypoints[1]
    env.robot.place(env.data, second, 0.0)  # standing on the second flag does not count before the first
    env.step(np.zeros(3, np.float32))
    assert t.next == 0
