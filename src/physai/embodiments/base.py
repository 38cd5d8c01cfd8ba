"""The Embodiment interface: what a robot declares and how it is built into a scene and controlled."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from physai.core.errors import UnknownNameError
from physai.core.registry import Registry
from physai.core.specs import ArraySpec
from physai.sim.binding import MjBound

if TYPE_CHECKING:
    from physai.embodiments.kinematics import RobotKinematics

EMBODIMENTS: Registry[type[Embodiment]] = Registry("robot")


@dataclass(frozen=True)
class SafetyLimits:
    """Limits the runtime safety supervisor enforces for a robot (SI units)."""

    joint_names: tuple[str, ...]
    """Names of the limited joints, in command order."""
    joint_pos_lower: np.ndarray
    """Lower joint position limit per joint (rad or m)."""
    joint_pos_upper: np.ndarray
    """Upper joint position limit per joint (rad or m)."""
    joint_vel_max: np.ndarray
    """Maximum joint speed per joint (rad/s or m/s)."""
    joint_acc_max: np.ndarray
    """Maximum joint acceleration per joint (rad/s^2 or m/s^2)."""
    joint_effort_max: np.ndarray
    """Maximum joint torque/force per joint (Nm or N)."""
    ee_speed_max: float = 1.0
    """Maximum end-effector (TCP) speed in normal operation (m/s)."""
    ee_speed_collaborative: float = 0.25
    """TCP speed cap in collaborative mode (ISO 10218 reduced speed, 250 mm/s)."""
    force_max: float = 60.0
    """Wrist force magnitude that triggers a protective stop (N)."""
    torque_max: float = 10.0
    """Wrist torque magnitude that triggers a protective stop (Nm)."""
    tactile_force_max: float | None = None
    """Per-taxel normal force that triggers a protective stop (N); None without tactile sensors."""
    workspace_low: np.ndarray = field(default_factory=lambda: np.array([-1.5, -1.5, 0.0]))
    """Lower corner of the allowed TCP workspace box (m, world frame)."""
    workspace_high: np.ndarray = field(default_factory=lambda: np.array([1.5, 1.5, 2.0]))
    """Upper corner of the allowed TCP workspace box (m, world frame)."""
    tracking_time: float = 0.05
    """Time constant of the joint position servos (s): a command leading the arm by e moves its TCP at
    about e / tracking_time, so the supervisor lets a command lead by at most cap x this."""
    leashed_frames: int | None = None
    """How many of the robot's tool frames (`tcp_frames()` order) the supervisor's lead bound applies
    to; the rest (fingertips: a grasp holds their command past the contact to press) are only
    speed-capped and kept in the workspace box. None: all of them."""
    grip_tracking_time: float | None = None
    """Time constant (s) of the servos that move the frames past `leashed_frames` (a hand's fingers):
    in free motion those frames lead their measured position by at most cap x this. None:
    `tracking_time`."""
    base_speed_max: float | None = None
    """Mobile base: planar travel speed cap in normal operation (m/s); None: no mobile base."""
    base_speed_collaborative: float | None = None
    """Mobile base: travel speed cap in collaborative mode (m/s)."""
    base_yaw_rate_max: float | None = None
    """Mobile base: yaw rate cap (rad/s, both speed modes)."""
    base_acc_max: float | None = None
    """Mobile base: largest change of the commanded planar velocity (m/s^2); the supervisor ramps the
    command at it and brakes at it before the base workspace's edge. None: the speed cap per second."""
    base_yaw_acc_max: float | None = None
    """Mobile base: largest change of the commanded yaw rate (rad/s^2); None: not rate-limited."""
    base_speed_window: float = 0.0
    """Mobile base: the measured travel speed is the base's displacement over this window (s) divided
    by it (a legged base surges and sways within each stride: use the stride cycle); 0: one period."""
    base_workspace_low: np.ndarray | None = None
    """Mobile base: lower corner (x, y) of the box the base's commanded position stays in (m, world)."""
    base_workspace_high: np.ndarray | None = None
    """Mobile base: upper corner (x, y) of that box (m, world)."""

    def to_dict(self) -> dict:
        """JSON-ready description."""
        out: dict = {}
        for k, v in self.__dict__.items():
            out[k] = v.tolist() if isinstance(v, np.ndarray) else (list(v) if isinstance(v, tuple) else v)
        return out


class Embodiment(MjBound, abc.ABC):
    """A robot: builds its bodies into an MjSpec, then reads state and applies actions on MjData.

    Lifecycle: `build(spec)` before compile, `bind(model, data)` after; `reset_pose(data)` puts the
    robot in its home configuration. Subclasses register with `@register_embodiment("name")`.
    """

    name: str = ""
    control_modes: tuple[str, ...] = ("joint_pos",)
    description: str = ""

    @abc.abstractmethod
    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the robot's bodies, joints, actuators, cameras and sensors to `spec`."""

    @abc.abstractmethod
    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Resolve names to ids in the compiled model; keep `data` for state and control."""

    @abc.abstractmethod
    def reset_pose(self, data: mujoco.MjData) -> None:
        """Home configuration: joint positions, zero velocities, actuator targets."""

    @abc.abstractmethod
    def state_names(self) -> list[str]:
        """Names of the elements of `state()`."""

    @abc.abstractmethod
    def state(self) -> np.ndarray:
        """Proprioceptive state (float32), laid out as `state_names()`."""

    @abc.abstractmethod
    def action_spec(self, mode: str) -> ArraySpec:
        """Shape, bounds and names of actions in control `mode`."""

    @abc.abstractmethod
    def apply_action(self, action: np.ndarray, mode: str, control_dt: float) -> None:
        """Turn a validated, clipped action into actuator controls (`data.ctrl`)."""

    @abc.abstractmethod
    def cameras(self) -> list[str]:
        """Camera names, the scene camera first."""

    @abc.abstractmethod
    def safety_limits(self) -> SafetyLimits:
        """Limits for the runtime safety supervisor."""

    def sensors(self) -> dict[str, str]:
        """Sensor name -> kind (e.g. 'force', 'torque', 'tactile')."""
        return {}

    def tactile(self) -> np.ndarray | None:
        """Tactile array (float32) when the robot has tactile sensors."""
        return None

    def ee_positions(self) -> np.ndarray:
        """TCP positions, one row per end effector (n_ee, 3), world frame."""
        return np.zeros((0, 3))

    def wrist_wrenches(self) -> np.ndarray | None:
        """Wrist force (3, N) and torque (3, Nm) per end effector (n_ee, 6), for the supervisor's
        force/torque stop; None without wrist force/torque sensors."""
        return None

    def tcp_frames(self) -> list[tuple[str, str]]:
        """(TCP site, flange body) per end effector, in `ee_positions()` order; empty: no Cartesian tool."""
        return []

    def base_pose(self) -> tuple[np.ndarray, float] | None:
        """Mobile base: position (3, world) and heading yaw (rad); None without a mobile base."""
        return None

    def base_velocity(self) -> np.ndarray | None:
        """Mobile base: (vx, vy, vz) in the heading frame and yaw rate; None without a mobile base."""
        return None

    def kinematics(self) -> RobotKinematics | None:
        """FK/Jacobians of the tool frames on a standalone model of this robot alone (None without
        `tcp_frames()`); independent of any simulation, for the safety supervisor."""
        frames = self.tcp_frames()
        if not frames:
            return None
        from physai.embodiments.kinematics import RobotKinematics

        spec = mujoco.MjSpec()
        self.build(spec)  # build only reads the embodiment's config: the robot alone, nothing bound
        return RobotKinematics(spec.compile(), self.safety_limits().joint_names, frames)

    def check_mode(self, mode: str) -> None:
        """Raise UnknownNameError when `mode` is not one of this robot's control modes."""
        if mode not in self.control_modes:
            raise UnknownNameError(f"control mode of {self.name}", mode, list(self.control_modes))


def register_embodiment(name: str):
    """Class decorator: register an Embodiment subclass under `name`."""

    def deco(cls: type[Embodiment]) -> type[Embodiment]:
        cls.name = name
        return EMBODIMENTS.register(name)(cls)

    return deco


def make_embodiment(name: str, **kwargs: object) -> Embodiment:
    """Instantiate the robot registered as `name`."""
    return EMBODIMENTS.get(name)(**kwargs)
