"""What a policy expects from the env (robot, control mode, observations, widths) and the check of it.

A checkpoint's `io_spec()` and a remote server's metadata are read leniently: a mapping, a dataclass or
an object with `to_dict()`, with any of these fields (first match wins):

- robot: `embodiment` | `robot` | `robot_type`
- control mode: `control` | `control_mode`
- observation keys: `obs_keys` | `observation_keys`, or the keys of `observation` | `obs` |
  `observations` | `obs_spec` (LeRobot names `observation.state`, `observation.images.<cam>` and physai
  names `state`, `images/<cam>` are both understood; `prompt`/`task` mean `instruction`)
- state width: `state_dim`, or the shape of the `state` observation entry
- action width: `action_dim`, or the last axis of `action` | `action_spec` shape
- image size: `image_size`, or the (H, W, 3) / (3, H, W) shape of an image entry
- `privileged`: whether the state includes privileged task state

Anything absent is not checked. Everything present is checked against the env of every task before any
worker starts, so a policy for another robot or observation set fails fast with a clear message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from physai.core.contract import PolicyContract
from physai.core.errors import ConfigError, RobotMismatchError, SafetyError


@dataclass(frozen=True)
class Requirements:
    """The env a policy was made for; None fields are unknown and not checked."""

    embodiment: str | None = None
    """Robot name the policy drives."""
    control: str | None = None
    """Control mode of its actions."""
    obs_keys: tuple[str, ...] | None = None
    """physai observation groups it reads (state, images, tactile, instruction)."""
    cameras: tuple[str, ...] | None = None
    """Cameras it reads when it reads images."""
    image_size: tuple[int, int] | None = None
    """(H, W) of its images."""
    state_dim: int | None = None
    """Width of the state vector."""
    action_dim: int | None = None
    """Width of one action."""
    privileged: bool | None = None
    """Whether the state includes privileged task state."""

    def env_kwargs(self) -> dict:
        """Keyword arguments for `PhysaiEnv` that reproduce what the policy expects."""
        kw: dict[str, Any] = {}
        if self.control:
            kw["control"] = self.control
        if self.obs_keys:
            kw["obs"] = tuple(self.obs_keys)
        if self.cameras:
            kw["cameras"] = tuple(self.cameras)
        if self.image_size:
            kw["image_size"] = tuple(self.image_size)
        if self.privileged is not None:
            kw["privileged"] = self.privileged
        return kw

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def _as_mapping(spec: Any) -> dict:
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return spec
    if hasattr(spec, "to_dict"):
        return dict(spec.to_dict())
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    return {k: v for k, v in vars(spec).items() if not k.startswith("_")} if hasattr(spec, "__dict__") else {}


def _first(d: dict, *names: str) -> Any:
    for n in names:
        if n in d and d[n] is not None:
            return d[n]
    return None


def _shape(entry: Any) -> tuple[int, ...] | None:
    if entry is None:
        return None
    if hasattr(entry, "shape"):
        return tuple(int(x) for x in entry.shape)
    if isinstance(entry, dict) and "shape" in entry:
        return tuple(int(x) for x in entry["shape"])
    if isinstance(entry, list | tuple) and all(isinstance(x, int) for x in entry):
        return tuple(entry)
    return None


def _norm_key(key: str) -> tuple[str, str | None]:
    """Observation key -> (physai group, camera or None)."""
    k = key.removeprefix("observation.").removeprefix("observation/")
    for prefix in ("images/", "images.", "image/", "image."):
        if k.startswith(prefix):
            return "images", k[len(prefix):]
    if k in ("prompt", "task", "instruction"):
        return "instruction", None
    return k, None


def requirements_from_contract(c: PolicyContract) -> Requirements:
    """The (partial) requirements a policy contract implies."""
    return Requirements(
        embodiment=c.embodiment,
        control=c.control,
        obs_keys=tuple(c.env_kwargs()["obs"]),
        cameras=tuple(c.camera_names) or None,
        image_size=c.image_size,
        state_dim=c.state_dim,
        action_dim=c.action_dim,
        privileged=c.privileged,
    )


def check_env_contract(c: PolicyContract, env: Any, who: str) -> None:
    """Raise `ConfigError` when `env` (a PhysaiEnv) does not give what the contract reads, at its rate:
    the same check the runtime makes against a robot (`PolicyContract.check_robot`)."""
    if c.embodiment != env.robot.name:
        raise RobotMismatchError(who, c.embodiment, f"task {env.task.name}", env.robot.name,
                                 f"evaluate it on tasks of robot {c.embodiment} (see `physai tasks`)")
    robot = SimpleNamespace(
        embodiment=env.robot.name, control=env.control, hz=1.0 / env.control_dt,
        state_names=list(env.state_names), action_names=list(env.action_spec.names),
        cameras=list(env.camera_names) if "images" in env.obs_keys else [],
        image_size=tuple(env.image_size) if "images" in env.obs_keys else None,
        tactile_dim=int(np.size(env.robot.tactile())) if "tactile" in env.obs_keys else 0,
    )
    try:
        c.check_robot(robot, who)
    except SafetyError as exc:
        raise ConfigError(f"task {env.task.name}: {exc}") from None


def requirements_from_spec(spec: Any) -> Requirements:
    """Interpret a policy's `io_spec()` or a server's metadata (see the module docstring); a physai
    server's metadata carries the full contract."""
    d = _as_mapping(spec)
    if isinstance(d.get("contract"), dict):
        return requirements_from_contract(PolicyContract.from_dict(d["contract"], "server metadata contract"))
    obs_map = _first(d, "observation", "obs", "observations", "obs_spec")
    obs_map = _as_mapping(obs_map) if obs_map is not None and not isinstance(obs_map, list | tuple) else {}
    keys = _first(d, "obs_keys", "observation_keys")
    raw_keys = list(keys) if keys is not None else list(obs_map)
    groups: list[str] = []
    cameras: list[str] = []
    image_size = None
    state_dim = _first(d, "state_dim")
    for key in raw_keys:
        group, cam = _norm_key(str(key))
        if group not in groups:
            groups.append(group)
        if cam:
            cameras.append(cam)
            shp = _shape(obs_map.get(key))
            if shp and len(shp) == 3:
                image_size = (shp[0], shp[1]) if shp[-1] in (1, 3, 4) else (shp[1], shp[2])
        if group == "state" and state_dim is None:
            shp = _shape(obs_map.get(key))
            state_dim = shp[-1] if shp else None
    action = _first(d, "action", "action_spec", "actions")
    action_dim = _first(d, "action_dim")
    if action_dim is None and action is not None:
        shp = _shape(action) or _shape(_as_mapping(action))
        action_dim = shp[-1] if shp else None
    if not cameras and isinstance(d.get("cameras"), list | tuple):
        cameras = [str(c) for c in d["cameras"]]
    size = _first(d, "image_size")
    return Requirements(
        embodiment=_first(d, "embodiment", "robot", "robot_type"),
        control=_first(d, "control", "control_mode"),
        obs_keys=tuple(groups) or None,
        cameras=tuple(cameras) or None,
        image_size=tuple(int(x) for x in size) if size is not None else image_size,
        state_dim=int(state_dim) if state_dim is not None else None,
        action_dim=int(action_dim) if action_dim is not None else None,
        privileged=_first(d, "privileged"),
    )


def check_env(req: Requirements, env: Any, who: str) -> None:
    """Raise `ConfigError` when `env` (a PhysaiEnv) does not match what `who` (the policy) expects."""
    task = env.task.name
    if req.embodiment and req.embodiment != env.robot.name:
        raise RobotMismatchError(who, req.embodiment, f"task {task}", env.robot.name,
                                 f"evaluate it on tasks of robot {req.embodiment} (see `physai tasks`)")
    if req.action_dim is not None and req.action_dim != env.action_spec.shape[0]:
        raise ConfigError(f"{who} outputs {req.action_dim}-wide actions but task {task} in {env.control!r} "
                          f"mode takes {env.action_spec.shape[0]}; use a policy trained for this robot "
                          "and mode")
    if req.state_dim is not None and "state" in env.obs_keys and req.state_dim != len(env.state_names):
        raise ConfigError(f"{who} reads a {req.state_dim}-wide state but task {task} gives "
                          f"{len(env.state_names)} ({'privileged' if env.privileged else 'proprioceptive'}); "
                          "it was trained on another observation set")
