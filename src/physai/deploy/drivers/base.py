"""The `RobotDriver` protocol: the narrow interface between the runtime and a robot (real or simulated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from physai.deploy.safety import RobotState
from physai.embodiments.base import SafetyLimits

if TYPE_CHECKING:
    from physai.embodiments.kinematics import RobotKinematics


@dataclass
class DriverInfo:
    """What a connected robot declares to the runtime."""

    embodiment: str
    """Registered embodiment name (a package for another embodiment is refused)."""
    control: str
    """Control mode the driver accepts commands in (e.g. 'ee_delta', 'joint_pos')."""
    hz: float
    """Control rate the driver expects `write` at."""
    state_names: list[str]
    """Names of the elements of `Reading.obs['state']`."""
    action_names: list[str]
    """Names of the command elements."""
    action_low: np.ndarray
    """Lower bound per command element."""
    action_high: np.ndarray
    """Upper bound per command element."""
    safety_limits: SafetyLimits
    """The robot's limits, for the safety supervisor."""
    cameras: list[str] = field(default_factory=list)
    """Cameras whose images appear in `Reading.obs` as `images/<camera>`."""
    image_size: tuple[int, int] | None = None
    """(height, width) of every camera image (None: no cameras, or not declared)."""
    tactile_dim: int = 0
    """Flattened size of `Reading.obs['tactile']` (0: none)."""
    kinematics: RobotKinematics | None = None
    """FK/Jacobians of the robot's tool frames for the safety supervisor, on a model of this robot
    (None: the runtime builds them from the registered embodiment's default model)."""


@dataclass
class Reading:
    """One `read()`: the policy's observation, the state the supervisor watches, and episode flags."""

    obs: dict[str, np.ndarray]
    """Policy inputs: `state` (float32), `images/<camera>` (uint8 HxWx3), `tactile`, `instruction` (text)."""
    robot: RobotState
    """Joint positions, TCP positions, wrench, tactile forces."""
    success: bool = False
    """The task reports success (simulation only; real robots leave it False)."""
    done: bool = False
    """The episode ended (success, failure or time limit)."""


@runtime_checkable
class RobotDriver(Protocol):
    """connect -> (read, write)* -> stop -> disconnect. `write` commands in `info().control` mode."""

    def connect(self) -> DriverInfo:
        """Open the connection and return what the robot declares."""

    def read(self) -> Reading:
        """The latest observation and robot state."""

    def write(self, command: np.ndarray) -> None:
        """Send one (already supervised) command."""

    def stop(self) -> None:
        """Bring the robot to rest and keep it there (hold position)."""

    def disconnect(self) -> None:
        """Close the connection (after stopping)."""
