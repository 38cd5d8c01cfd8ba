"""A reference policy for deploy checks: a hand-written, stateless pick-place controller as a torch module.

It maps the raw privileged state of `tabletop/pick-place` (robot 28 + task 10 elements) to an
ee_delta action chunk, using only tensor ops, so it exports to ONNX like a trained policy. It lets the
export -> sign -> verify -> runtime -> supervisor path be tested end to end on a task it really
completes, without training anything; it is not a learned policy.
"""

from __future__ import annotations

import torch

from physai.tasks.tabletop.common import TABLE_Z

TASK = "tabletop/pick-place"
# indices into the privileged pick-place state
WIDTH, TCP, OBJ, TRAY = 14, slice(15, 18), slice(28, 31), slice(35, 38)


class PickPlaceController(torch.nn.Module):
    """Approach, descend, close, lift, carry over the tray, lower, release — decided from state alone."""

    def __init__(self, chunk: int = 4, step: float = 0.04) -> None:
        super().__init__()
        self.chunk, self.step = chunk, step

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
        hold_t = torch.where((far & (tcp[:, 2] < carry - 0.03))[:, None], lift, torch.where(far[:, None], over, lower))
        target = torch.where(holding[:, None], hold_t, target)
        grip = torch.where(holding, z + 1, grip)
        # A: the object is low over the tray: release and back up
        release = obj_over_tray & (obj[:, 2] < TABLE_Z + 0.12)
        target = torch.where(release[:, None], over, target)
        grip = torch.where(release, z, grip)

        steps, pos = [], tcp
        for _ in range(self.chunk):
            err = target - pos
            n = torch.linalg.vector_norm(err, dim=1, keepdim=True)
            d = err * torch.clamp(self.step / (n + 1e-9), max=1.0)
            pos = pos + d
            steps.append(torch.cat([d, torch.zeros_like(d), grip[:, None]], 1))
        return torch.stack(steps, 1)


def io_spec(chunk: int = 4, horizon: int = 2) -> dict:
    """The io_spec of the controller for `export_package` (same keys as `physai.policies`)."""
    from physai.envs import make

    env = make(TASK, render_mode=None)
    spec = env.action_spec
    d = {"embodiment": env.robot.name, "control": env.control, "fps": 1.0 / env.control_dt,
         "state_names": list(env.state_names), "state_dim": len(env.state_names),
         "action_names": list(spec.names), "action_dim": int(spec.shape[0]), "chunk_size": chunk,
         "n_action_steps": horizon, "tasks": [TASK], "cameras": [],
         "action_low": spec.low.tolist(), "action_high": spec.high.tolist()}
    env.close()
    return d
