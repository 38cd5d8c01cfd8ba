"""A trained-shape package (an MLP from raw state to an action chunk, exported, signed, verified) for a
dexterous task (hand16, ee_delta) and a quadruped task (base_velocity) runs behind the safety supervisor
through the runtime, as the arm packages do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physai.core.contract import PolicyContract
from physai.deploy import signing
from physai.deploy.drivers.sim import sim_driver_for
from physai.deploy.package import ExportConfig, export_package, load_package
from physai.deploy.reference import env_contract
from physai.deploy.runtime import Runtime, RuntimeConfig


class ChunkMLP(torch.nn.Module):
    """Raw state (B, D) -> action chunk (B, H, A) inside the action bounds (normalization embedded)."""

    def __init__(self, state_dim: int, low: np.ndarray, high: np.ndarray, chunk: int = 4) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.h, self.a = chunk, len(low)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(state_dim, 32), torch.nn.Tanh(), torch.nn.Linear(32, chunk * self.a)
            )
        self.register_buffer("scale", torch.rand(state_dim, generator=g) + 0.5)
        self.register_buffer("mid", torch.tensor((low + high) / 2, dtype=torch.float32))
        self.register_buffer("span", torch.tensor((high - low) / 2, dtype=torch.float32))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        out = torch.tanh(self.net(state * self.scale)).reshape(state.shape[0], self.h, self.a)
        return self.mid + self.span * out


def _contract(task: str, control: str | None) -> PolicyContract:
    return env_contract(task, control, chunk=4, horizon=2)


@pytest.mark.parametrize(
    ("task", "control"), [("dexterous/grasp-lift", "ee_delta"), ("quadruped/patrol", "base_velocity")]
)
def test_package_runs_20_cycles_behind_the_supervisor(task, control, keys, tmp_path):
    c = _contract(task, control)
    module = ChunkMLP(len(c.state_names), np.array(c.action_low), np.array(c.action_high))
    export_package(module, c, tmp_path / "pkg", sign_key=keys[0], config=ExportConfig(batched=False))
    pkg = load_package(tmp_path / "pkg", signing.trusted_keys(keys[1]))
    drv = sim_driver_for(pkg.contract, task, realtime=False, seed=3)
    out = Runtime(pkg, drv, RuntimeConfig(realtime=False, max_cycles=20, stop_on_done=False)).run()
    assert out["cycles"] >= 20 and out["hz"] == c.control_hz
    assert out["safety"]["state"] != "stopped", out["safety"]
    assert out["inference"]["late_cycles"] == 0
