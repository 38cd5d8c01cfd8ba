"""`bimanual`: two `arm7`s facing each other across a shared table (a two-arm station).

Actions and state are the left arm's followed by the right arm's; names carry `left/` and `right/`.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.core.specs import ArraySpec
from physai.embodiments.arm7 import Arm7, Arm7Config, lookat_xyaxes
from physai.embodiments.base import Embodiment, SafetyLimits, register_embodiment

ARM_GAP = 1.1  # m between the two arm bases (along y)
TABLE_HEIGHT = 0.4


@register_embodiment("bimanual")
class Bimanual(Embodiment):
    """Two Franka-like arms at y = -0.55 (left, facing +y) and y = +0.55 (right, facing -y)."""

    control_modes = ("ee_delta", "joint_pos")
    description = "two arm7s facing each other across a shared table"

    def __init__(self, base_x: float = 0.0) -> None:
        half = ARM_GAP / 2
        self.left = Arm7(Arm7Config(base_pos=(base_x, -half, TABLE_HEIGHT), base_yaw=np.pi / 2,
                                    prefix="left/", scene_camera=False))
        self.right = Arm7(Arm7Config(base_pos=(base_x, half, TABLE_HEIGHT), base_yaw=-np.pi / 2,
                                     prefix="right/", scene_camera=False))
        self.arms = (self.left, self.right)
        self.base_x = base_x

    def build(self, spec: mujoco.MjSpec) -> None:
        for arm in self.arms:
            arm.build(spec)
        # high and wide enough to keep both grippers and most of both arms in view over the shared table
        cam = np.array([self.base_x + 1.3, 0.0, TABLE_HEIGHT + 1.15])
        look = np.array([self.base_x + 0.1, 0, TABLE_HEIGHT + 0.22])
        spec.worldbody.add_camera(name="scene", pos=cam.tolist(), xyaxes=lookat_xyaxes(cam, look), fovy=58)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.model, self.data = model, data
        for arm in self.arms:
            arm.bind(model, data)
        self._state = np.empty(56, np.float32)
        self.right._kin = self.left._kin  # one forward-kinematics pass serves both arms' IK (ee_delta)

    def reset_pose(self, data: mujoco.MjData) -> None:
        for arm in self.arms:
            arm.reset_pose(data)

    def state_names(self) -> list[str]:
        return self.left.state_names() + self.right.state_names()

    def state(self) -> np.ndarray:
        out = self._state
        self.left._fill_state(out[:28])
        self.right._fill_state(out[28:])
        return out.copy()

    def action_spec(self, mode: str) -> ArraySpec:
        self.check_mode(mode)
        a, b = self.left.action_spec(mode), self.right.action_spec(mode)
        return ArraySpec((a.shape[0] + b.shape[0],), "float32", np.concatenate([a.low, b.low]),
                         np.concatenate([a.high, b.high]), a.names + b.names)

    def apply_action(self, action: np.ndarray, mode: str, control_dt: float) -> None:
        if mode == "joint_pos":
            self.left.apply_action(action[:8], mode, control_dt)
            self.right.apply_action(action[8:], mode, control_dt)
            return
        # ee_delta: both arms' IK seeds into the shared scratch data, one kinematics pass, both solves
        # (the same result as two `apply_action` calls: the arms' chains are independent)
        left, right = action[:7], action[7:]
        self.left._ee_begin(left)
        self.right._ee_begin(right)
        kin = self.left._kin
        mujoco.mj_kinematics(self.model, kin)
        mujoco.mj_comPos(self.model, kin)
        self.left._ee_end(left)
        self.right._ee_end(right)

    def ee_positions(self) -> np.ndarray:
        return np.vstack([self.left.ee_positions(), self.right.ee_positions()])

    def tcp_frames(self) -> list[tuple[str, str]]:
        return self.left.tcp_frames() + self.right.tcp_frames()

    def wrist_wrenches(self) -> np.ndarray:
        return np.stack([self.left.wrist_wrench(), self.right.wrist_wrench()])

    def cameras(self) -> list[str]:
        return ["scene", "left/wrist", "right/wrist"]

    def sensors(self) -> dict[str, str]:
        return {**self.left.sensors(), **self.right.sensors()}

    def safety_limits(self) -> SafetyLimits:
        a, b = self.left.safety_limits(), self.right.safety_limits()
        cat = np.concatenate
        return SafetyLimits(
            joint_names=a.joint_names + b.joint_names,
            joint_pos_lower=cat([a.joint_pos_lower, b.joint_pos_lower]),
            joint_pos_upper=cat([a.joint_pos_upper, b.joint_pos_upper]),
            joint_vel_max=cat([a.joint_vel_max, b.joint_vel_max]),
            joint_acc_max=cat([a.joint_acc_max, b.joint_acc_max]),
            joint_effort_max=cat([a.joint_effort_max, b.joint_effort_max]), ee_speed_max=a.ee_speed_max,
            ee_speed_collaborative=a.ee_speed_collaborative, force_max=a.force_max, torque_max=a.torque_max,
            workspace_low=np.array([-1.0, -1.5, 0.0]), workspace_high=np.array([1.5, 1.5, 1.6]),
        )
