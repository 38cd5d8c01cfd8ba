"""Worker processes share the cores: each gets its slice of torch threads (issue 25: two workers with
torch's default of one thread per core ran an act checkpoint 25x slower than its package)."""

from __future__ import annotations

import os

import pytest

from physai.evaluate.runner import worker_threads
from physai.evaluate.worker import episode_loop, limit_threads


def test_worker_threads_split_the_usable_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    assert worker_threads("local", 2) == 4
    assert worker_threads("local", 3) == 2
    assert worker_threads("local", 16) == 1  # never zero
    assert worker_threads("ray", 4) == 1  # an actor reserves one CPU
    assert worker_threads("local", 0) is None  # in-process: the caller's settings stand


def test_limit_threads_sets_torch_and_openmp(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    try:
        limit_threads(1)
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        limit_threads(None)  # no limit: nothing changes
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_episode_loop_runs_torch_policies_without_autograd():
    torch = pytest.importorskip("torch")
    from physai.envs import PhysaiEnv

    seen = []

    class Probe:
        def reset(self) -> None:
            pass

        def act(self, obs):
            seen.append(torch.is_inference_mode_enabled())
            return env.action_spec.low * 0

    env = PhysaiEnv("tabletop/pick-place", max_steps=3)
    try:
        out, _ = episode_loop(env, Probe(), seed=0)
    finally:
        env.close()
    assert out["length"] == 3 and seen == [True, True, True]
