"""A hand-written arm7 policy for Franka loop checks: the TCP traces a horizontal circle.

Stateless torch ops on arm7's own 28-element state (no task state, no cameras), so it exports to ONNX
like a trained policy and runs on a real or simulated Franka through `franka:HOST`. Each action steps
the TCP along the circle at `speed` m/s (chosen above the collaborative cap in the loop benchmark, so
the supervisor's cap is what limits the measured speed) and pulls it back onto the circle.
"""

from __future__ import annotations

import torch

from physai.core.contract import Execution, PolicyContract

TCP = slice(15, 18)


class CirclePolicy(torch.nn.Module):
    """State (B, 28) -> ee_delta chunk (B, H, 7): one step along a circle around `center` per action."""

    def __init__(
        self,
        hz: float,
        center: tuple[float, float, float] = (0.45, 0.0, 0.85),
        radius: float = 0.1,
        speed: float = 0.3,
        chunk: int = 8,
    ) -> None:
        super().__init__()
        self.hz, self.radius, self.speed, self.chunk = hz, radius, speed, chunk
        self.center: torch.Tensor = torch.tensor(center, dtype=torch.float32)  # a constant of the graph

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        pos = state[:, TCP]
        steps = []
        for _ in range(self.chunk):
            rel = pos - self.center
            ang = torch.atan2(rel[:, 1], rel[:, 0]) + self.speed / self.hz / self.radius
            tgt = torch.stack(
                [
                    self.center[0] + self.radius * torch.cos(ang),
                    self.center[1] + self.radius * torch.sin(ang),
                    self.center[2] + 0 * ang,
                ],
                1,
            )
            d = tgt - pos
            n = torch.linalg.vector_norm(d, dim=1, keepdim=True)
            d = d * torch.clamp(self.speed / self.hz / (n + 1e-9), max=1.0)
            pos = pos + d
            z = torch.zeros_like(ang)[:, None]
            steps.append(torch.cat([d, z, z, z, z], 1))
        return torch.stack(steps, 1)


def circle_contract(hz: float, chunk: int = 8) -> PolicyContract:
    """The contract of `CirclePolicy`: arm7, ee_delta at `hz`, arm7's robot state only."""
    from physai.embodiments import make_embodiment

    emb = make_embodiment("arm7")
    spec = emb.action_spec("ee_delta")
    assert spec.low is not None and spec.high is not None
    return PolicyContract(
        embodiment="arm7",
        control="ee_delta",
        control_hz=float(hz),
        state_names=tuple(emb.state_names()),
        action_names=tuple(spec.names),
        chunk_size=chunk,
        execution=Execution("queue", horizon=max(1, chunk // 2)),
        privileged=False,
        action_low=tuple(float(x) for x in spec.low),
        action_high=tuple(float(x) for x in spec.high),
    )
