"""`Recorder`: records episodes of any env + actor (expert, policy, teleop) into a LeRobot v3.0 dataset.

Features come from the env: `observation.state` (names from `env.state_names`), one
`observation.images.<cam>` video per camera, `observation.tactile` when observed, `action` (names from
`env.action_spec.names`), `next.success`. The instruction becomes the episode's task. Camera frames go to
a background encoder so the control loop never waits on video.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physai.data import format as fmt
from physai.data.video import DEFAULT_GOP
from physai.data.writer import DatasetWriter


def env_features(env: Any) -> dict[str, dict]:
    """Dataset features of a PhysaiEnv's observations and actions."""
    feats: dict[str, dict] = {}
    keys = env.obs_keys
    if "state" in keys:
        feats["observation.state"] = {
            "dtype": "float32",
            "shape": [len(env.state_names)],
            "names": list(env.state_names),
        }
    if "images" in keys:
        h, w = env.image_size
        for cam in env.camera_names:
            feats[f"observation.images.{cam}"] = fmt.video_feature(h, w, env.metadata["render_fps"], "h264")
    if "tactile" in keys:
        shape = env.observation_space["tactile"].shape
        feats["observation.tactile"] = {"dtype": "float32", "shape": [int(np.prod(shape))], "names": None}
    names = list(env.action_spec.names) or None
    feats["action"] = {"dtype": "float32", "shape": list(env.action_spec.shape), "names": names}
    feats["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    return feats


def obs_to_frame(obs: dict, action: np.ndarray, info: dict, cameras: list[str]) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "action": np.asarray(action, np.float32),
        "next.success": bool(info.get("is_success", False)),
    }
    if "state" in obs:
        frame["observation.state"] = obs["state"]
    for cam in cameras:
        frame[f"observation.images.{cam}"] = obs[f"images/{cam}"]
    if "tactile" in obs:
        frame["observation.tactile"] = np.asarray(obs["tactile"], np.float32).ravel()
    return frame


@dataclass
class RecordResult:
    """Outcome of one recorded episode."""

    seed: int
    """Seed the env was reset with."""
    success: bool
    """Whether the task succeeded."""
    length: int
    """Frames recorded."""
    kept: bool
    """Whether the episode was saved (failures are discarded unless keep_failures)."""
    episode_index: int | None = None
    """Index in the dataset when kept."""
    late_frames: int = 0
    """Steps that missed their real-time deadline (only when recording in real time)."""
    instruction: str = ""
    """The episode's task."""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "success": self.success,
            "length": self.length,
            "kept": self.kept,
            "episode_index": self.episode_index,
            "late_frames": self.late_frames,
            "instruction": self.instruction,
        }


class Recorder:
    """Record episodes of `env` into the dataset at `root` (created, or appended to when it exists)."""

    def __init__(
        self,
        env: Any,
        root: str | Path,
        codec: str = "h264",
        crf: int = 23,
        gop: int = DEFAULT_GOP,
        keep_failures: bool = False,
    ) -> None:
        self.env = env
        self.cameras = list(env.camera_names) if "images" in env.obs_keys else []
        feats = env_features(env)
        for k in feats:
            if feats[k]["dtype"] == "video":
                feats[k]["info"]["video.codec"] = codec
        self.writer = DatasetWriter(
            root,
            fps=env.metadata["render_fps"],
            features=feats,
            robot_type=env.robot.name,
            codec=codec,
            crf=crf,
            gop=gop,
            extra_info={
                "task": env.task.name,
                "control_mode": env.control,
                "cameras": self.cameras,
                "privileged": bool(getattr(env, "privileged", True)),
            },
        )
        self.keep_failures = keep_failures

    def record(self, policy: Any, seed: int, realtime: bool = False) -> RecordResult:
        """Run one episode of `policy` and save it if it succeeded (or keep_failures).

        `realtime=True` paces steps at the dataset fps and counts steps that overran their deadline.
        """
        env, w = self.env, self.writer
        obs, info = env.reset(seed=seed)
        policy.reset()
        dt = 1.0 / w.fps
        late, success, n = 0, False, 0
        t_next = time.perf_counter() + dt
        while True:
            action = policy.act(obs)
            next_obs, _, terminated, truncated, info = env.step(action)
            w.add_frame(obs_to_frame(obs, action, info, self.cameras))
            obs, n = next_obs, n + 1
            success = bool(info.get("is_success", False))
            if realtime:
                now = time.perf_counter()
                if now > t_next:
                    late += 1
                else:
                    time.sleep(t_next - now)
                t_next += dt
            if terminated or truncated:
                break
        if realtime and late > max(1, 0.01 * n):
            warnings.warn(
                f"recording {env.task.name}: {late} of {n} steps ({100 * late / n:.1f}%) missed the "
                f"{w.fps} Hz deadline; lower the camera count/size or the control rate",
                RuntimeWarning,
                stacklevel=2,
            )
        instruction = env.task.instruction
        res = RecordResult(
            seed=seed, success=success, length=n, kept=False, late_frames=late, instruction=instruction
        )
        if success or self.keep_failures:
            res.episode_index = w.save_episode(instruction or env.task.name)
            res.kept = True
        else:
            w.discard_episode()
        return res

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
