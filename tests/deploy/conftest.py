"""Fixtures: a tiny deterministic torch MLP policy with a hand-written contract, keys and packages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physai.core.contract import Execution, PolicyContract
from physai.deploy import signing
from physai.deploy.package import ExportConfig, export_package


class TinyPolicy(torch.nn.Module):
    """Raw state (B, D) -> raw action chunk (B, H, A), with embedded normalization."""

    def __init__(self, state_dim: int = 12, chunk: int = 4, action_dim: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.h, self.a = chunk, action_dim
        self.register_buffer("mean", torch.randn(state_dim, generator=g))
        self.register_buffer("std", torch.rand(state_dim, generator=g) + 0.5)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(state_dim, 32), torch.nn.Tanh(), torch.nn.Linear(32, chunk * action_dim)
            )
        self.register_buffer("scale", torch.full((action_dim,), 0.5))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        x = (state - self.mean) / self.std
        return torch.tanh(self.net(x)).reshape(state.shape[0], self.h, self.a) * self.scale


def tiny_spec(state_dim: int = 12, chunk: int = 4, action_dim: int = 3) -> PolicyContract:
    return PolicyContract(
        embodiment="toy",
        control="joint_pos",
        control_hz=20.0,
        state_names=tuple(f"s{i}" for i in range(state_dim)),
        action_names=tuple(f"a{i}" for i in range(action_dim)),
        chunk_size=chunk,
        execution=Execution("queue", horizon=2),
    )


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return signing.generate_keys(d)


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory, keys):
    out = tmp_path_factory.mktemp("pkg") / "tiny"
    report = export_package(
        TinyPolicy(), tiny_spec(), out, sign_key=keys[0], config=ExportConfig(max_batch=16)
    )
    return out, report


def rng() -> np.random.Generator:
    return np.random.default_rng(0)
