"""State features a policy derives from the raw `observation.state` before its network sees it.

Two generic transforms, both chosen by state *names* (so they follow the dataset, not the task):

- drop: elements whose name contains one of the `exclude` substrings (e.g. noisy wrist force/torque)
  are left out;
- angles: every heading in the state -- a quaternion group `<p>.quat.{w,x,y,z}` (its yaw about +z) or a
  scalar `<p>.yaw` -- adds sin/cos of the angle and of twice the angle. A normalized quaternion makes a
  heading a hard, non-periodic function of four numbers; symmetric objects (grasp yaw modulo pi) need
  the doubled angle. These features are bounded, so they are not normalized.
"""

from __future__ import annotations

import torch
from torch import nn

from physai.sim.geometry import quat_yaw_batch

NOISY_STATE = ("wrist.force", "wrist.torque")
"""Default `exclude_state` of act and flow: force/torque readings, noisy and spiky in 50 demos."""

_QUAT = (".quat.w", ".quat.x", ".quat.y", ".quat.z")


def heading_sources(names: list[str]) -> tuple[list[list[int]], list[int]]:
    """Index groups (w, x, y, z) of every quaternion, and indices of every '.yaw' scalar, in `names`."""
    pos = {n: i for i, n in enumerate(names)}
    quats = []
    for n in names:
        if n.endswith(_QUAT[0]):
            p = n[: -len(_QUAT[0])]
            if all(p + s in pos for s in _QUAT):
                quats.append([pos[p + s] for s in _QUAT])
    yaws = [i for i, n in enumerate(names) if n.endswith(".yaw")]
    return quats, yaws


class StateFeatures(nn.Module):
    """(raw state, normalized state) (B, D) -> policy input (B, out_dim); see the module docstring."""

    keep: torch.Tensor
    quat_idx: torch.Tensor
    yaw_idx: torch.Tensor

    def __init__(self, names: list[str], angles: bool = False, exclude: list[str] | None = None) -> None:
        super().__init__()
        keep = [i for i, n in enumerate(names) if not any(x in n for x in (exclude or []))]
        quats, yaws = heading_sources(names) if angles else ([], [])
        kept = set(keep)  # an excluded quaternion or yaw gives no heading features either
        quats = [g for g in quats if all(i in kept for i in g)]
        yaws = [i for i in yaws if i in kept]
        self.identity = len(keep) == len(names) and not quats and not yaws
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.long), persistent=False)
        self.register_buffer(
            "quat_idx", torch.tensor(quats, dtype=torch.long).reshape(-1, 4), persistent=False
        )
        self.register_buffer("yaw_idx", torch.tensor(yaws, dtype=torch.long), persistent=False)
        self.out_dim = len(keep) + 4 * (len(quats) + len(yaws))

    def forward(self, raw: torch.Tensor, normed: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return normed
        parts = [normed[:, self.keep]]
        heads = []
        if self.quat_idx.numel():
            q = raw[:, self.quat_idx]  # (B, G, 4)
            heads.append(quat_yaw_batch(q))
        if self.yaw_idx.numel():
            heads.append(raw[:, self.yaw_idx])
        if heads:
            a = torch.cat(heads, dim=-1)
            parts += [torch.sin(a), torch.cos(a), torch.sin(2 * a), torch.cos(2 * a)]
        return torch.cat(parts, dim=-1)
