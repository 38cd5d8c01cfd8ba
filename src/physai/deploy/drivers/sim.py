"""`sim:<task>`: a MuJoCo simulation behind the `RobotDriver` protocol, paced in real time.

Each `write` applies one command and advances physics by one control period (1 / hz). With
`realtime=True` the driver never lets simulated time run ahead of wall-clock time since `connect`
(it sleeps when it would), so a robot-side agent on top of it behaves like hardware; the runtime's
own fixed-rate loop keeps it on time from the other side.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from physai.core.contract import PolicyContract
from physai.core.errors import ConfigError
from physai.deploy.drivers.base import DriverInfo, Reading
from physai.deploy.safety import RobotState

if TYPE_CHECKING:
    from physai.envs.env import PhysaiEnv


class SimDriver:
    """Drives a `PhysaiEnv` of `task` as if it were a robot."""

    def __init__(
        self,
        task: str,
        control: str | None = None,
        hz: float | None = None,
        seed: int = 0,
        cameras: list[str] | None = None,
        image_size: tuple[int, int] = (128, 128),
        realtime: bool = True,
        max_steps: int | None = None,
        tactile: bool = False,
        instruction: bool = False,
        privileged: bool = True,
        image_labels: bool = False,
    ) -> None:
        self.tactile, self.instruction = tactile, instruction
        self.privileged, self.image_labels = privileged, image_labels
        self.task_name, self.control, self.hz, self.seed = task, control, hz, seed
        self.cameras, self.image_size, self.realtime, self.max_steps = (
            cameras or [],
            image_size,
            realtime,
            max_steps,
        )
        self.env: PhysaiEnv | None = None
        self._t0 = 0.0
        self._sim_time = 0.0
        self._last = None
        self.steps = 0

    def connect(self) -> DriverInfo:
        from physai.envs import make

        obs = ("state", "images") if self.cameras else ("state",)
        if self.tactile:
            obs = (*obs, "tactile")
        if self.instruction:
            obs = (*obs, "instruction")
        self.env = env = make(
            self.task_name,
            control=self.control,
            obs=obs,
            render_mode=None,
            cameras=self.cameras or None,
            image_size=self.image_size,
            max_steps=self.max_steps,
            control_hz=self.hz,
            privileged=self.privileged,
            image_labels=self.image_labels,
        )
        self.hz = hz = 1.0 / env.control_dt
        self._obs, _ = env.reset(seed=self.seed)
        self._info = {"is_success": False}
        self._done = False
        lim = env.robot.safety_limits()
        self._qadr = np.array([env.model.jnt_qposadr[env.model.joint(j).id] for j in lim.joint_names])
        self._t0, self._sim_time, self.steps = time.monotonic(), 0.0, 0
        spec = env.action_spec
        return DriverInfo(
            embodiment=env.robot.name,
            control=env.control,
            hz=hz,
            state_names=list(env.state_names),
            action_names=list(spec.names),
            action_low=np.asarray(spec.low),
            action_high=np.asarray(spec.high),
            safety_limits=lim,
            cameras=list(self.cameras),
            image_size=(int(env.image_size[0]), int(env.image_size[1])) if self.cameras else None,
            tactile_dim=int(np.size(_tactile(env))) if self.tactile else 0,
            kinematics=env.robot.kinematics(),
        )

    @property
    def _live(self) -> PhysaiEnv:
        """The env of a connected driver."""
        if self.env is None:
            raise ConfigError("the sim driver is not connected; call connect() first")
        return self.env

    def _robot_state(self) -> RobotState:
        r = self._live.robot
        wrench = r.wrist_wrenches()
        tac = r.tactile()
        base = r.base_pose()
        vel = r.base_velocity()
        return RobotState(
            joint_pos=self._live.data.qpos[self._qadr].copy(),
            ee_pos=r.ee_positions(),
            wrench=wrench,
            tactile=None if tac is None else np.asarray(tac),
            stamp=self._sim_time,
            base_pose=None if base is None else np.array([base[0][0], base[0][1], base[1]]),
            base_vel=None if vel is None else np.array([vel[0], vel[1], vel[3]]),
        )

    def read(self) -> Reading:
        self._need()
        obs = {
            k: v
            for k, v in self._obs.items()
            if k in ("state", "tactile", "instruction") or k.startswith("images/")
        }
        return Reading(
            obs=obs, robot=self._robot_state(), success=bool(self._info.get("is_success")), done=self._done
        )

    def write(self, command: np.ndarray) -> None:
        self._need()
        if self.realtime:
            ahead = self._sim_time - (time.monotonic() - self._t0)
            if ahead > 0:
                time.sleep(ahead)
        self._obs, _, term, trunc, self._info = self._live.step(np.asarray(command, dtype=np.float32))
        self._done = self._done or bool(term or trunc)
        self._sim_time += self._live.control_dt
        self.steps += 1

    def stop(self) -> None:
        """Hold: zero TCP motion (ee_delta), zero base velocity (base_velocity) or the measured joints
        (joint_pos); gripper unchanged, joint channels of an ee_delta action (the hand's fingers) at
        their measured positions."""
        if self.env is None:
            return
        r, env = self.env.robot, self.env
        if env.control == "base_velocity":
            cmd = np.zeros(env.action_spec.shape, np.float32)  # the gait ramps the base to a stand
        elif env.control == "ee_delta":
            cmd = np.zeros(env.action_spec.shape, np.float32)
            joints = list(r.safety_limits().joint_names)
            for i, name in enumerate(env.action_spec.names):
                if name in joints:
                    cmd[i] = env.data.qpos[self._qadr[joints.index(name)]]
            if hasattr(r, "gripper_width"):
                cmd[-1] = np.clip(1.0 - r.gripper_width() / 0.08, 0, 1)
        else:
            low, high = env.action_spec.bounds()
            cmd = np.clip((low + high) / 2, low, high)
            cmd[: len(self._qadr)] = env.data.qpos[self._qadr]
        r.apply_action(cmd, env.control, env.control_dt)
        mujoco.mj_step(env.model, env.data, nstep=env.substeps)

    def disconnect(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def _need(self) -> None:
        if self.env is None:
            raise ConfigError("the sim driver is not connected; call connect() first")


def sim_driver_for(
    contract: PolicyContract,
    task: str,
    extra_cameras: tuple[str, ...] | list[str] = (),
    image_size: tuple[int, int] = (128, 128),
    **kwargs: object,
) -> SimDriver:
    """A sim driver of `task` that provides exactly what `contract` reads: its rate, control mode,
    cameras and image size, tactile, instruction and state layout (the one place these are derived).
    `extra_cameras` are rendered too (e.g. recorded as video); `image_size` applies only when the policy
    reads no camera."""
    from physai.core.errors import RobotMismatchError
    from physai.tasks import TASKS

    task_robot = TASKS.get(task).embodiment_name
    if contract.embodiment and task_robot != contract.embodiment:
        raise RobotMismatchError("the package", contract.embodiment, f"task {task}", task_robot,
                                 f"run it on a task of robot {contract.embodiment} (see `physai tasks`)")
    cams = contract.camera_names + [c for c in extra_cameras if c not in contract.camera_names]
    return SimDriver(
        task,
        control=contract.control,
        hz=contract.control_hz,
        cameras=cams,
        image_size=contract.image_size or image_size,
        tactile=contract.tactile_dim > 0,
        instruction=contract.instruction == "input",
        privileged=contract.privileged if contract.privileged is not None else True,
        image_labels=contract.image_labels,
        **kwargs,  # type: ignore[arg-type]
    )


def make_driver(uri: str, **kwargs: object):
    """A driver from a robot URI: `sim:<suite/task>` or `tcp://host:port` (network driver)."""
    if uri.startswith("sim:"):
        return SimDriver(uri[4:], **kwargs)  # type: ignore[arg-type]
    if uri.startswith("tcp://"):
        from physai.deploy.drivers.network import NetworkDriver

        host, _, port = uri[6:].rpartition(":")
        return NetworkDriver(host or "127.0.0.1", int(port), **kwargs)  # type: ignore[arg-type]
    raise ConfigError(
        f"unknown robot {uri!r}; use sim:<suite/task> (e.g. sim:tabletop/pick-place) or "
        f"tcp://HOST:PORT for a robot-side agent"
    )


def _tactile(env: PhysaiEnv) -> np.ndarray:
    t = env.robot.tactile()
    if t is None:
        raise ConfigError(f"{env.task.name}: the robot {env.robot.name} has no tactile sensors")
    return t
