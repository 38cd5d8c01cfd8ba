"""`quadruped/patrol`: walk through K randomized waypoints in the given order within the time limit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.quadruped import Quadruped
from physai.sim.scene import GEOM
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.quadruped.common import GoTo, build_arena, place_obstacles, sample_points

VISIT_RADIUS = 0.35  # m from the base centre to a waypoint
MAX_WAYPOINTS = 5
_COLOURS = [
    (0.9, 0.2, 0.15, 1),
    (0.15, 0.45, 0.9, 1),
    (0.2, 0.75, 0.3, 1),
    (0.85, 0.3, 0.85, 1),
    (0.1, 0.7, 0.8, 1),
]
_ORDINAL = ["first", "second", "third", "fourth", "fifth"]


@dataclass
class PatrolConfig(TaskConfig):
    """Options of quadruped/patrol."""

    n_waypoints: int = 3
    """Waypoints to visit in order (1..5)."""


@register_task("quadruped/patrol")
class Patrol(Task):
    """Numbered flags stand on the floor; the robot must pass within 0.35 m of each, in order."""

    robot: Quadruped

    embodiment_name = "quadruped"
    instructions = (
        "patrol the waypoints in order",
        "walk to each numbered flag in turn",
        "visit the {n} waypoints one after another",
        "do a patrol round through the {n} flags",
    )
    default_max_steps = 1250
    control_hz = 50.0
    timestep = 0.002
    expert_control = "base_velocity"
    config_cls = PatrolConfig
    config: PatrolConfig

    def build(self, spec: mujoco.MjSpec) -> None:
        build_arena(spec)
        for i in range(MAX_WAYPOINTS):
            b = spec.worldbody.add_body(name=f"waypoint{i}", pos=[0, 0, -1.0], mocap=True)
            rgba = list(_COLOURS[i])
            b.add_geom(
                type=GEOM.mjGEOM_CYLINDER,
                size=[VISIT_RADIUS, 0.002, 0],
                pos=[0, 0, 0.002],
                rgba=[*rgba[:3], 0.35],
                contype=0,
                conaffinity=0,
            )
            b.add_geom(
                type=GEOM.mjGEOM_CYLINDER,
                size=[0.012, 0.3, 0],
                pos=[0, 0, 0.3],
                rgba=[0.9, 0.9, 0.9, 1],
                contype=0,
                conaffinity=0,
            )
            b.add_geom(
                type=GEOM.mjGEOM_BOX,
                size=[0.09, 0.005, 0.06],
                pos=[0.09, 0, 0.54],
                rgba=rgba,
                contype=0,
                conaffinity=0,
            )

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        n = self.config.n_waypoints
        if not 1 <= n <= MAX_WAYPOINTS:
            from physai.core.errors import ConfigError

            raise ConfigError(f"PatrolConfig.n_waypoints={n}; use 1..{MAX_WAYPOINTS}")
        self.mocap = [model.body(f"waypoint{i}").mocapid[0] for i in range(MAX_WAYPOINTS)]
        self.waypoints = np.zeros((n, 2))
        self.next = 0

    def reset(self, rng: np.random.Generator) -> None:
        d = self.data
        start = rng.uniform(-1.0, 1.0, size=2)
        self.robot.place(d, start, rng.uniform(-np.pi, np.pi))
        n = self.config.n_waypoints
        self.waypoints = np.array(sample_points(rng, n, min_dist=1.5, avoid=[start], avoid_dist=1.0))
        for i in range(MAX_WAYPOINTS):
            xy = self.waypoints[i] if i < n else np.array([0.0, 0.0])
            d.mocap_pos[self.mocap[i]] = [xy[0], xy[1], 0.0 if i < n else -1.0]
        place_obstacles(self.model, d, rng, keep_clear=[start, *self.waypoints], clear_dist=0.6)
        self.next = 0

    def instruction_fields(self) -> dict[str, str]:
        return {"n": str(self.config.n_waypoints)}

    def _update(self) -> None:
        if self.next < len(self.waypoints):  # scalar math: runs every control step
            rq = self.robot.root_q
            x, y = self.data.qpos[rq : rq + 2].tolist()
            wx, wy = self.waypoints[self.next].tolist()
            if math.sqrt((x - wx) ** 2 + (y - wy) ** 2) < VISIT_RADIUS:
                self.next += 1

    def success(self) -> bool:
        self._update()
        return self.next >= len(self.waypoints) and not self.robot.fallen()

    def failed(self) -> bool:
        return self.robot.fallen()

    def current_target(self) -> np.ndarray:
        return self.waypoints[min(self.next, len(self.waypoints) - 1)]

    def state_names(self) -> list[str]:
        return ["waypoint.x", "waypoint.y", "waypoint.index", "waypoints.left"]

    def state(self) -> np.ndarray:
        tx, ty = self.current_target().tolist()
        return np.array([tx, ty, self.next, len(self.waypoints) - self.next], dtype=np.float32)

    def make_expert(self) -> Expert:
        return PatrolExpert(self)


class PatrolExpert(Expert[Patrol]):
    """Heads for the next waypoint, turning in place when it lies behind."""

    def __init__(self, task: Patrol) -> None:
        super().__init__(task)
        self.goto = GoTo(task.robot, v_max=0.8)

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        return self.goto.command(t.current_target()).astype(np.float32)
