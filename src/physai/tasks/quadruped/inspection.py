"""`quadruped/inspect`: find the hazard marker among distractors, stop close facing it, raise `report`.

The robot is built with `QuadrupedConfig(report_action=True)`, so the action has one extra element,
`report` in [0, 1] (> 0.5 = raised), after the mode's own elements. A report counts when the robot's
head (0.36 m ahead of the base centre) is within `STOP_DIST` of the hazard, the heading points at the
hazard within `FACE_TOL`, and the base is nearly still; a report raised anywhere else is a false alarm
and fails the episode.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.base import Embodiment
from physai.embodiments.quadruped import Quadruped, QuadrupedConfig
from physai.sim.scene import GEOM, OBJECT_GROUP
from physai.tasks.base import Expert, Task, register_task
from physai.tasks.quadruped.common import GoTo, build_arena, place_obstacles, sample_points, wrap

STOP_DIST = 0.5  # m, head to marker centre
FACE_TOL = 0.35  # rad
STILL_SPEED = 0.15  # m/s
HEAD_OFFSET = 0.36  # m ahead of the base centre
N_DISTRACTORS = 4
_DISTRACTOR_RGBA = [(0.15, 0.4, 0.9, 1), (0.2, 0.7, 0.3, 1), (0.6, 0.6, 0.62, 1), (0.55, 0.3, 0.75, 1)]
_KINDS = ["blue", "green", "grey", "purple"]


def _add_post(spec: mujoco.MjSpec, name: str, rgba: tuple, band: tuple) -> None:
    """A marker post: a coloured column with a contrasting band and a cap, on a mocap body."""
    b = spec.worldbody.add_body(name=name, pos=[0, 0, -2.0], mocap=True)
    col = dict(contype=OBJECT_GROUP, conaffinity=OBJECT_GROUP)
    b.add_geom(
        name=name, type=GEOM.mjGEOM_CYLINDER, size=[0.07, 0.2, 0], pos=[0, 0, 0.2], rgba=list(rgba), **col
    )
    b.add_geom(
        type=GEOM.mjGEOM_CYLINDER,
        size=[0.072, 0.04, 0],
        pos=[0, 0, 0.25],
        rgba=list(band),
        contype=0,
        conaffinity=0,
    )
    b.add_geom(
        type=GEOM.mjGEOM_SPHERE,
        size=[0.06, 0, 0],
        pos=[0, 0, 0.42],
        rgba=list(band),
        contype=0,
        conaffinity=0,
    )


@register_task("quadruped/inspect")
class Inspect(Task):
    """One red-and-yellow hazard post and four plain distractor posts; report the hazard up close."""

    robot: Quadruped

    embodiment_name = "quadruped"
    instructions = (
        "find the hazard marker and report it",
        "inspect the area, stop in front of the red and yellow hazard post and report it",
        "locate the hazard among the posts, face it up close and raise a report",
        "search for the hazard sign and flag it",
    )
    default_max_steps = 900
    control_hz = 50.0
    timestep = 0.002
    expert_control = "base_velocity"

    def make_embodiment(self) -> Embodiment:
        return Quadruped(QuadrupedConfig(report_action=True))

    def build(self, spec: mujoco.MjSpec) -> None:
        build_arena(spec)
        _add_post(spec, "hazard", (0.9, 0.12, 0.1, 1), (1.0, 0.85, 0.05, 1))
        for i in range(N_DISTRACTORS):
            _add_post(spec, f"distractor{i}", _DISTRACTOR_RGBA[i], (0.95, 0.95, 0.95, 1))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.hazard_mocap = model.body("hazard").mocapid[0]
        self.distractor_mocap = [model.body(f"distractor{i}").mocapid[0] for i in range(N_DISTRACTORS)]
        self._posts = np.array([self.hazard_mocap, *self.distractor_mocap])
        self.reported = False
        self.false_alarm = False

    def reset(self, rng: np.random.Generator) -> None:
        d = self.data
        start = rng.uniform(-1.5, 1.5, size=2)
        self.robot.place(d, start, rng.uniform(-np.pi, np.pi))
        hazard = sample_points(rng, 1, 0.0, avoid=[start], avoid_dist=1.8)[0]
        # distractors stay off the straight corridor from the start to the hazard
        pts: list[np.ndarray] = []
        seg = hazard - start
        for _ in range(5000):
            p = rng.uniform(-3.0, 3.0, size=2)
            s = float(np.clip(np.dot(p - start, seg) / np.dot(seg, seg), 0.0, 1.0))
            if (
                np.linalg.norm(p - (start + s * seg)) > 0.7
                and all(np.linalg.norm(p - q) > 0.8 for q in pts)
                and np.linalg.norm(p - hazard) > 0.9
            ):
                pts.append(p)
                if len(pts) == N_DISTRACTORS:
                    break
        d.mocap_pos[self.hazard_mocap] = [hazard[0], hazard[1], 0.0]
        for i, m in enumerate(self.distractor_mocap):
            xy = pts[i] if i < len(pts) else np.array([5.0 + i, 5.0])
            d.mocap_pos[m] = [xy[0], xy[1], 0.0]
        place_obstacles(self.model, d, rng, keep_clear=[start, hazard, *pts], clear_dist=0.6)
        self.reported = False
        self.false_alarm = False

    def hazard_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.hazard_mocap][:2].copy()

    def head_pos(self) -> np.ndarray:
        pos, yaw = self.robot.base_pose()
        return pos[:2] + HEAD_OFFSET * np.array([np.cos(yaw), np.sin(yaw)])

    def at_hazard(self, slack: float = 1.0) -> bool:
        """Head within STOP_DIST of the hazard, facing it within FACE_TOL, base nearly still.

        `slack` < 1 tightens every tolerance (the expert reports only with a margin to spare).
        """
        pos, yaw = self.robot.base_pose()
        h = self.hazard_pos()
        off = h - pos[:2]
        facing = abs(wrap(float(np.arctan2(off[1], off[0])) - yaw)) < FACE_TOL * slack
        close = float(np.linalg.norm(h - self.head_pos())) < STOP_DIST - 0.3 * (1.0 - slack)
        still = float(np.linalg.norm(self.robot.base_velocity()[:2])) < STILL_SPEED * slack
        return bool(close and facing and still)

    def _update(self) -> None:
        rob = self.robot
        if rob.report_raised() and not self.reported and not self.false_alarm:
            if self.at_hazard():
                self.reported = True
            else:
                self.false_alarm = True

    def success(self) -> bool:
        self._update()
        return self.reported and not self.robot.fallen()

    def failed(self) -> bool:
        self._update()
        return self.false_alarm or self.robot.fallen()

    def state_names(self) -> list[str]:
        names = ["hazard.x", "hazard.y"]
        for i in range(N_DISTRACTORS):
            names += [f"distractor{i}.x", f"distractor{i}.y"]
        return names

    def state(self) -> np.ndarray:
        return self.data.mocap_pos[self._posts, :2].ravel().astype(np.float32)  # hazard, distractors

    def make_expert(self) -> Expert:
        return InspectExpert(self)


class InspectExpert(Expert[Inspect]):
    """Walks to a point in front of the hazard, turns to face it, waits to settle, then reports."""

    def __init__(self, task: Inspect) -> None:
        super().__init__(task)
        self.goto = GoTo(task.robot, v_max=0.8)

    def reset(self) -> None:
        self.settle = 0
        self.near = False

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        h = t.hazard_pos()
        stop = HEAD_OFFSET + 0.25
        pos, yaw = t.robot.base_pose()
        dist = float(np.linalg.norm(h - pos[:2]))
        # hysteresis: do not re-approach on small drift
        self.near = dist < stop + (0.3 if self.near else 0.02)
        report = 0.0
        if not self.near:
            cmd, self.settle = self.goto.command(h, stop_dist=stop), 0
        else:
            err = wrap(float(np.arctan2(h[1] - pos[1], h[0] - pos[0])) - yaw)
            cmd = np.array([0.0, 0.0, float(np.clip(2.0 * err, -1.0, 1.0)) if abs(err) > 0.08 else 0.0])
            self.settle = self.settle + 1 if cmd[2] == 0.0 else 0
            if self.settle > 20 and t.at_hazard(slack=0.6):
                report = 1.0
        return np.append(cmd, report).astype(np.float32)
