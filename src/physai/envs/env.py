"""`PhysaiEnv`: the gymnasium Env over (embodiment, task)."""

from __future__ import annotations

import dataclasses
import string
import weakref
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from physai.core.errors import ConfigError
from physai.core.specs import IMAGE_LABEL_TAG
from physai.sim.projection import project_points
from physai.sim.render import RenderConfig, Renderer
from physai.sim.scene import SceneConfig, new_scene
from physai.tasks.base import Task, TaskConfig, make_task

OBS_KEYS = ("state", "images", "tactile", "instruction")
_TEXT_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "


class PhysaiEnv(gym.Env):
    """A MuJoCo task as a gymnasium environment.

    Observation dict: `state` (float32; robot proprioception, plus privileged task state when
    `privileged=True`), `images/<camera>` (uint8 HxWx3), `tactile` (float32, robots with tactile
    sensors), `instruction` (str). `info["is_success"]` after every step. Same seed, same trajectory.
    With `image_labels=True` (needs `privileged` and images) the state also ends with each task
    keypoint's image coordinates per camera, `<keypoint>.px.<camera>.x/y` (training labels).
    `control_hz` sets the control rate (default: the task's `control_hz`); it must be a whole number of
    physics steps.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, task: str | Task, control: str | None = None, obs: Sequence[str] = ("state",),
                 image_size: tuple[int, int] = (128, 128), cameras: Sequence[str] | None = None,
                 privileged: bool = True, render_mode: str | None = "rgb_array",
                 render_config: RenderConfig | None = None, task_config: TaskConfig | None = None,
                 max_steps: int | None = None, image_labels: bool = False,
                 control_hz: float | None = None) -> None:
        self.task = make_task(task, task_config) if isinstance(task, str) else task
        if max_steps is not None:
            self.task.config = dataclasses.replace(self.task.config, max_steps=max_steps)
        self.robot = self.task.robot
        self.control = control or self.task.expert_control
        self.robot.check_mode(self.control)
        unknown = [k for k in obs if k not in OBS_KEYS]
        if unknown:
            raise ConfigError(f"unknown observation keys {unknown}; valid: {list(OBS_KEYS)}")
        self.obs_keys = tuple(obs)
        self.privileged = privileged
        self.image_size = (int(image_size[0]), int(image_size[1]))
        all_cams = self.robot.cameras()
        self.camera_names = list(cameras) if cameras is not None else all_cams
        bad = [c for c in self.camera_names if c not in all_cams]
        if bad:
            raise ConfigError(f"unknown cameras {bad} for robot {self.robot.name}; valid: {all_cams}")

        spec = new_scene(SceneConfig(timestep=self.task.timestep))
        self.robot.build(spec)
        self.task.build(spec)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.robot.bind(self.model, self.data)
        self.task.bind(self.model, self.data)
        self.substeps = self.task.substeps if control_hz is None else _substeps(control_hz, self.task)
        self.control_dt = self.substeps * self.model.opt.timestep
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.control_dt)}

        self.action_spec = self.robot.action_spec(self.control)
        self.action_space = gym.spaces.Box(*self.action_spec.bounds(), dtype=np.float32)
        self.state_names = self.robot.state_names() + (self.task.state_names() if privileged else [])
        # privileged image labels: each task keypoint's place in each camera image
        if image_labels and not (privileged and "images" in self.obs_keys and self.camera_names):
            raise ConfigError(
                "image_labels=True needs privileged=True and 'images' in obs with at least one camera "
                f"(got privileged={privileged}, obs={list(self.obs_keys)}, cameras={self.camera_names})"
            )
        self._keypoint_names = list(self.task.keypoints()) if image_labels else []
        self.state_names += [f"{k}{IMAGE_LABEL_TAG}{cam}.{a}" for k in self._keypoint_names
                             for cam in self.camera_names for a in "xy"]
        self.observation_space = self._make_obs_space()
        self.render_mode = render_mode
        self._render_cfg = render_config or RenderConfig(width=self.image_size[1], height=self.image_size[0])
        self._renderer: Renderer | None = None
        self._video_renderer: Renderer | None = None
        self._rng = np.random.default_rng()
        self._steps = 0
        self._was_reset = False
        self._experts: weakref.WeakSet = weakref.WeakSet()
        # per-step fast paths (same results as the general code they short-cut)
        spec = self.action_spec
        bounded = (spec.low is not None and spec.high is not None
                   and bool(np.isfinite(spec.low).all() and np.isfinite(spec.high).all()))
        self._bounds = list(zip(np.asarray(spec.low, float).tolist(), np.asarray(spec.high, float).tolist(),
                                strict=True)) if bounded else None
        self._n_robot_state = len(self.robot.state_names())
        self._state_buf = np.empty(len(self.state_names), np.float32)
        self.clipped_total = 0

    # ---------------------------------------------------------------- spaces
    def _make_obs_space(self) -> gym.spaces.Dict:
        spaces: dict[str, gym.Space] = {}
        if "state" in self.obs_keys:
            spaces["state"] = gym.spaces.Box(-np.inf, np.inf, (len(self.state_names),), np.float32)
        if "images" in self.obs_keys:
            h, w = self.image_size
            for cam in self.camera_names:
                spaces[f"images/{cam}"] = gym.spaces.Box(0, 255, (h, w, 3), np.uint8)
        if "tactile" in self.obs_keys:
            tac = self.robot.tactile()
            if tac is None:
                raise ConfigError(f"robot {self.robot.name} has no tactile sensors; drop 'tactile' from obs")
            spaces["tactile"] = gym.spaces.Box(0, np.inf, tac.shape, np.float32)
        if "instruction" in self.obs_keys:
            spaces["instruction"] = gym.spaces.Text(max_length=512, charset=_TEXT_CHARSET)
        return gym.spaces.Dict(spaces)

    # ---------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        mujoco.mj_resetData(self.model, self.data)
        self.robot.reset_pose(self.data)
        mujoco.mj_forward(self.model, self.data)
        self.task.reset(self._rng)
        mujoco.mj_forward(self.model, self.data)
        self.task.choose_instruction(self._rng)
        self._steps = 0
        self.clipped_total = 0
        self._was_reset = True
        for expert in list(self._experts):  # experts handed out follow every reset
            expert.reset()
        return self._obs(), {"is_success": False, "instruction": self.task.instruction}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        act, n_clipped = self._check_action(action)
        self.clipped_total += n_clipped
        self.robot.apply_action(act, self.control, self.control_dt)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self._steps += 1
        success = bool(self.task.success())
        failed = bool(self.task.failed())
        truncated = self._steps >= self.task.max_steps
        info = {"is_success": success, "failed": failed, "clipped": n_clipped,
                "clipped_total": self.clipped_total, "step": self._steps}
        return self._obs(), float(success), success or failed, truncated and not success, info

    def render(self) -> np.ndarray | None:
        """RGB frame of the scene camera at the configured render size."""
        if self.render_mode != "rgb_array":
            return None
        if self._video_renderer is None:
            self._video_renderer = Renderer(self.model, self._render_cfg)
        return self._video_renderer.render(self.data, self.video_camera)

    @property
    def video_camera(self) -> str | int:
        """The camera `render()` shows: the robot's external 'scene' camera when it has one (a humanoid's
        first camera is its head), else the first observed camera."""
        if "scene" in self.robot.cameras():
            return "scene"
        return self.camera_names[0] if self.camera_names else 0

    def render_camera(self, camera: str) -> np.ndarray:
        """RGB frame of any camera at the observation image size."""
        if self._renderer is None:
            h, w = self.image_size
            self._renderer = Renderer(self.model, RenderConfig(width=w, height=h))
        return self._renderer.render(self.data, camera)

    def _keypoint_labels(self) -> np.ndarray:
        kp = self.task.keypoints()
        pts = np.stack([kp[k] for k in self._keypoint_names])
        h, w = self.image_size
        per_cam = [project_points(self.model, self.data, cam, pts, aspect=w / h) for cam in self.camera_names]
        return np.stack(per_cam, axis=1).reshape(-1)  # keypoint-major, then camera, then x/y

    def close(self) -> None:
        for r in (self._renderer, self._video_renderer):
            if r is not None:
                r.close()
        self._renderer = self._video_renderer = None

    # ---------------------------------------------------------------- helpers
    def _check_action(self, action: Any) -> tuple[np.ndarray, int]:
        """`action_spec.validate` then `.clip`; an action strictly inside finite bounds skips the
        array work (NaN fails every comparison, so it still reaches validate's error)."""
        spec = self.action_spec
        arr = np.asarray(action, dtype=spec.dtype)
        bounds = self._bounds
        if bounds is not None and arr.shape == spec.shape:
            for v, (lo, hi) in zip(arr.tolist(), bounds, strict=True):
                if not lo <= v <= hi:
                    break
            else:
                return (arr.copy() if arr is action else arr), 0  # never hand the caller's array on
        act = spec.validate(action, what=f"action for {self.task.name} ({self.control})")
        return spec.clip(act)

    def _obs(self) -> dict:
        obs: dict[str, Any] = {}
        if "state" in self.obs_keys:
            st = self.robot.state()
            if self.privileged:
                buf, n = self._state_buf, self._n_robot_state
                buf[:n] = st
                task_state = self.task.state()
                buf[n:n + len(task_state)] = task_state
                if self._keypoint_names:
                    buf[n + len(task_state):] = self._keypoint_labels()
                st = buf.copy()
            obs["state"] = st
        if "images" in self.obs_keys:
            for cam in self.camera_names:
                obs[f"images/{cam}"] = self.render_camera(cam)
        if "tactile" in self.obs_keys:
            obs["tactile"] = self.robot.tactile()
        if "instruction" in self.obs_keys:
            obs["instruction"] = self.task.instruction
        return obs

    @property
    def steps(self) -> int:
        """Control steps since the last reset."""
        return self._steps

    def expert(self):
        """The task's scripted expert (acts in `task.expert_control` mode)."""
        if self.control != self.task.expert_control:
            mode = self.task.expert_control
            raise ConfigError(f"the {self.task.name} expert acts in {mode!r} mode, "
                              f"this env uses {self.control!r}; make the env with control={mode!r}")
        expert = self.task.make_expert()
        if self._was_reset:  # ready to act on the current episode, no separate reset() needed
            expert.reset()
        self._experts.add(expert)
        return expert


def _substeps(hz: float, task: Task) -> int:
    """Physics steps per control period at `hz`; ConfigError when `hz` is not a whole number of them."""
    if not (np.isfinite(hz) and hz > 0):
        raise ConfigError(f"control rate must be a positive number of Hz, got {hz}")
    n = round(1.0 / (hz * task.timestep))
    if n < 1 or abs(n * task.timestep * hz - 1) > 1e-6:
        ok = [f for f in (10, 20, 25, 50, 100, 125, 250, 500)
              if abs(round(1 / (f * task.timestep)) * task.timestep * f - 1) < 1e-6]
        raise ConfigError(
            f"control rate {hz:g} Hz is not a whole number of {task.name}'s {task.timestep:g} s physics "
            f"steps; use one of {ok} Hz"
        )
    return n
