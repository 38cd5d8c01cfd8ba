"""A reference policy for deploy checks: a hand-written, stateless pick-place controller as a torch module.

It maps the raw privileged state of `tabletop/pick-place` (robot 28 + task 10 elements) to an
ee_delta action chunk, using only tensor ops, so it exports to ONNX like a trained policy. It lets the
export -> sign -> verify -> runtime -> supervisor path be tested end to end on a task it really
completes, without training anything; it is not a learned policy.
"""

from __future__ import annotations

import torch

from physai.core.contract import Execution, PolicyContract
from physai.sim.geometry import quat_yaw_batch
from physai.tasks.tabletop.common import TABLE_Z

TASK = "tabletop/pick-place"
# indices into the privileged pick-place state
WIDTH, TCP, TCP_QUAT, OBJ, OBJ_QUAT, TRAY = (
    14,
    slice(15, 18),
    slice(18, 22),
    slice(28, 31),
    slice(31, 35),
    slice(35, 38),
)
QUARTER = 1.5707963267948966  # grasps are planned modulo a quarter turn (boxes; round shapes do not care)


def _wrap(x: torch.Tensor, period: float) -> torch.Tensor:
    return x - torch.floor(x / period + 0.5) * period


class PickPlaceController(torch.nn.Module):
    """Approach, descend, close, lift, carry over the tray, lower, release — decided from state alone.

    Each chunk plans `step`-sized TCP moves (0.012 m at 20 Hz = 0.24 m/s, inside the collaborative
    speed cap), so a chunk stays valid when the runtime drops its first actions (async chunking).
    """

    def __init__(
        self, chunk: int = 4, step: float = 0.012, rot_step: float = 0.1, home_yaw: float = 0.0
    ) -> None:
        super().__init__()
        self.chunk, self.step, self.rot_step, self.home_yaw = chunk, step, rot_step, home_yaw

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        tcp, obj, tray, width = state[:, TCP], state[:, OBJ], state[:, TRAY], state[:, WIDTH]
        z = torch.zeros_like(width)
        carry = z + (TABLE_Z + 0.22)
        grasp_z = torch.clamp(obj[:, 2] - 0.01, min=TABLE_Z + 0.024)
        grasp = torch.stack([obj[:, 0], obj[:, 1], grasp_z], 1)
        above = torch.stack([obj[:, 0], obj[:, 1], obj[:, 2] + 0.12], 1)
        xy_obj = torch.linalg.vector_norm(tcp[:, :2] - obj[:, :2], dim=1)
        xy_tray_tcp = torch.linalg.vector_norm(tcp[:, :2] - tray[:, :2], dim=1)
        obj_over_tray = torch.linalg.vector_norm(obj[:, :2] - tray[:, :2], dim=1) < 0.04
        holding = (width < 0.058) & (torch.linalg.vector_norm(obj - tcp, dim=1) < 0.05)
        at_grasp = torch.linalg.vector_norm(tcp - grasp, dim=1) < 0.012

        # D: approach (above the object, then straight down), gripper open
        target = torch.where((xy_obj > 0.012)[:, None], above, grasp)
        grip = z
        # C: at the grasp point: close
        target = torch.where(at_grasp[:, None], grasp, target)
        grip = torch.where(at_grasp, z + 1, grip)
        # B: holding: lift, carry over the tray, lower
        lift = torch.stack([tcp[:, 0], tcp[:, 1], carry], 1)
        over = torch.stack([tray[:, 0], tray[:, 1], carry], 1)
        lower = torch.stack([tray[:, 0], tray[:, 1], z + TABLE_Z + 0.1], 1)
        far = xy_tray_tcp > 0.02
        hold_t = torch.where(
            (far & (tcp[:, 2] < carry - 0.03))[:, None], lift, torch.where(far[:, None], over, lower)
        )
        target = torch.where(holding[:, None], hold_t, target)
        grip = torch.where(holding, z + 1, grip)
        # A: the object is low over the tray: release and back up
        release = obj_over_tray & (obj[:, 2] < TABLE_Z + 0.12)
        target = torch.where(release[:, None], over, target)
        grip = torch.where(release, z, grip)

        # wrist yaw: align the fingers with the object (modulo a quarter turn) until it is held
        obj_yaw, tcp_yaw = quat_yaw_batch(state[:, OBJ_QUAT]), quat_yaw_batch(state[:, TCP_QUAT])
        yaw_err = _wrap(obj_yaw - (tcp_yaw - self.home_yaw), QUARTER)
        yaw_err = torch.where(holding | release, z, yaw_err)

        steps, pos = [], tcp
        for _ in range(self.chunk):
            err = target - pos
            n = torch.linalg.vector_norm(err, dim=1, keepdim=True)
            d = err * torch.clamp(self.step / (n + 1e-9), max=1.0)
            pos = pos + d
            r = torch.clamp(yaw_err, -self.rot_step, self.rot_step)
            yaw_err = yaw_err - r
            steps.append(torch.cat([d, z[:, None], z[:, None], r[:, None], grip[:, None]], 1))
        return torch.stack(steps, 1)


def env_contract(
    task: str, control: str | None = None, chunk: int = 4, horizon: int = 1
) -> PolicyContract:
    """A queue-executed, privileged-state policy contract for `task`'s env in `control` mode (default:
    the task's), read from the env itself: for hand-written test/reference modules."""
    from physai.envs import make

    env = make(task, control=control, render_mode=None)
    spec = env.action_spec
    low, high = spec.bounds()
    c = PolicyContract(
        embodiment=env.robot.name,
        control=env.control,
        control_hz=1.0 / env.control_dt,
        state_names=tuple(env.state_names),
        action_names=tuple(spec.names),
        chunk_size=chunk,
        execution=Execution("queue", horizon=horizon),
        tasks=(task,),
        env_task=task,
        privileged=True,
        action_low=tuple(float(x) for x in low),
        action_high=tuple(float(x) for x in high),
    )
    env.close()
    return c


def contract(chunk: int = 4, horizon: int = 1) -> PolicyContract:
    """The policy contract of the controller for `export_package` (read from the task's env)."""
    return env_contract(TASK, chunk=chunk, horizon=horizon)


def make_controller(chunk: int = 4) -> PickPlaceController:
    """The controller with the home wrist heading of arm7 measured from the task's env."""
    from physai.envs import make

    env = make(TASK, render_mode=None)
    obs, _ = env.reset(seed=0)
    home = float(quat_yaw_batch(torch.from_numpy(obs["state"][None, TCP_QUAT].copy()))[0])
    env.close()
    return PickPlaceController(chunk=chunk, home_yaw=home)
