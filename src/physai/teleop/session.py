"""Episodes commanded through an `ActionArbiter` on a simulated env, recorded as LeRobot v3 datasets.

`run_episode_arbitrated` is the one env-level loop behind `physai teleop` (no policy: the operator
drives, the robot holds while nobody does) and the DAgger benchmark (a policy proposes, a teleop
source -- the scripted expert -- takes over when it strays). Each recorded frame carries the feature
`control_source` (int64: 0 policy, 1 human, 2 hold -- `arbiter.LABELS`), and the dataset's
`info.json` lists the labels under `physai.control_sources`, so `physai dataset view`, the flywheel and
the fleet dashboard can tell human steps from policy steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physai.data.recorder import env_features, obs_to_frame
from physai.data.writer import DatasetWriter
from physai.teleop.arbiter import LABELS, ActionArbiter, Decision

CONTROL_SOURCE = "control_source"
"""Dataset feature: who commanded each step (index into `LABELS`)."""


def control_source_feature() -> dict:
    return {"dtype": "int64", "shape": [1], "names": None}


def open_writer(env: Any, root: str | Path, codec: str = "h264", source: str = "teleop") -> DatasetWriter:
    """A dataset writer for `env`'s observations and actions plus `control_source`."""
    feats = env_features(env)
    feats[CONTROL_SOURCE] = control_source_feature()
    cams = list(env.camera_names) if "images" in env.obs_keys else []
    return DatasetWriter(
        root,
        fps=env.metadata["render_fps"],
        features=feats,
        robot_type=env.robot.name,
        codec=codec,
        extra_info={
            "task": env.task.name,
            "control_mode": env.control,
            "cameras": cams,
            "privileged": bool(getattr(env, "privileged", True)),
            "control_sources": list(LABELS),
            "recorded_by": source,
        },
    )


@dataclass
class EpisodeOutcome:
    """One arbitrated episode."""

    seed: int
    """Seed the env was reset with."""
    success: bool
    """Whether the task succeeded."""
    length: int
    """Steps run."""
    kept: bool = False
    """Whether it was saved to the dataset."""
    episode_index: int | None = None
    """Its index in the dataset when kept."""
    steps: dict = field(default_factory=dict)
    """Steps per label (policy / human / hold)."""
    ended_by: str = "env"
    """`env` (success or time limit), `save`, `discard`, `quit` or `stop`."""
    events: list = field(default_factory=list)
    """The arbiter's control log (grants, refusals, losses) of this episode."""
    late_steps: int = 0
    """Steps that overran their real-time deadline (realtime sessions only)."""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


StepHook = Callable[[dict, Decision, dict], None]
"""Called after every env step with (next observation, the decision, status dict)."""


def run_episode_arbitrated(
    env: Any,
    arbiter: ActionArbiter,
    seed: int,
    policy: Any = None,
    writer: DatasetWriter | None = None,
    keep_failures: bool = False,
    realtime: bool = False,
    on_step: StepHook | None = None,
    stop: Callable[[], bool] | None = None,
    wait_for_operator: bool = False,
) -> EpisodeOutcome:
    """Run one episode of `env` with commands chosen by `arbiter` (the policy's proposals when given);
    record it into `writer` when given (kept if it succeeded, the operator pressed save, or
    `keep_failures`; a `discard` event drops it). `wait_for_operator`: the episode starts with the first
    human command (until then the env does not step and nothing is recorded)."""
    obs, info = env.reset(seed=seed)
    arbiter.reset()
    if policy is not None:
        policy.reset()
    cams = list(env.camera_names) if "images" in env.obs_keys else []
    dt = 1.0 / float(env.metadata["render_fps"])
    t_next = time.perf_counter() + dt
    n = late = 0
    success, ended = False, "env"
    while True:
        proposal = None if policy is None else np.asarray(policy.act(obs), np.float32)
        d = arbiter.select(obs, proposal)
        if wait_for_operator and n == 0 and d.label != "human":
            arbiter.counts[d.label] -= 1  # not a step of the episode: the env did not move
            if stop is not None and stop() or any(e == "quit" for e, _ in arbiter.take_events()):
                ended = "quit"
                break
            time.sleep(dt)
            continue
        action = d.action if d.action is not None else arbiter.mapper.hold()  # type: ignore[union-attr]
        next_obs, _, terminated, truncated, info = env.step(action)
        if writer is not None:
            frame = obs_to_frame(obs, action, info, cams)
            frame[CONTROL_SOURCE] = np.int64(LABELS.index(d.label))
            writer.add_frame(frame)
        obs, n = next_obs, n + 1
        success = success or bool(info.get("is_success", False))
        if on_step is not None:
            on_step(obs, d, {"step": n, "success": success, "label": d.label, "holder": d.source})
        events = [e for e, _ in arbiter.take_events()]
        for e in ("quit", "discard", "save"):
            if e in events:
                ended = e
                break
        if ended == "env" and stop is not None and stop():
            ended = "stop"
        if terminated or truncated or ended != "env":
            break
        if realtime:
            now = time.perf_counter()
            if now > t_next:
                late += 1
                t_next = now
            else:
                time.sleep(t_next - now)
            t_next += dt
    summary = arbiter.summary()
    out = EpisodeOutcome(
        seed=seed,
        success=success,
        length=n,
        steps=summary["steps"],
        ended_by=ended,
        events=[e for e in summary["events"]],
        late_steps=late,
    )
    arbiter.log.clear()
    if writer is not None:
        keep = ended not in ("discard", "quit") and (success or keep_failures or ended == "save")
        if keep and n > 0:
            out.episode_index = writer.save_episode(env.task.instruction or env.task.name)
            out.kept = True
        else:
            writer.discard_episode()
    return out
