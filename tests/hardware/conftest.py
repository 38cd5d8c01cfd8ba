"""Fixtures: a tiny signed package, and the test plugin package registered as a physai.devices entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from physai.deploy import signing
from physai.deploy.package import ExportConfig, export_package

PLUGIN_DIR = Path(__file__).parent / "plugin_pkg"


class Tiny(torch.nn.Module):
    """Raw state (B, 6) -> action chunk (B, 4, 2)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = torch.nn.Parameter(torch.randn(6, 16, generator=g) * 0.3)
        self.w2 = torch.nn.Parameter(torch.randn(16, 8, generator=g) * 0.3)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.tanh(state @ self.w1) @ self.w2).reshape(state.shape[0], 4, 2)


SPEC = {
    "state_dim": 6,
    "action_dim": 2,
    "chunk_size": 4,
    "execution_horizon": 2,
    "fps": 50.0,
    "embodiment": "toy",
    "cameras": [],
    "task_names": [],
}


@pytest.fixture(scope="session")
def tiny_policy():
    """(module, io_spec) of the tiny test policy, for tests that export their own package."""
    return Tiny(), dict(SPEC)


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return signing.generate_keys(tmp_path_factory.mktemp("hwkeys"))


@pytest.fixture(scope="session")
def package(tmp_path_factory, keys):
    out = tmp_path_factory.mktemp("hwpkg") / "tiny"
    export_package(Tiny(), SPEC, out, sign_key=keys[0], config=ExportConfig(max_batch=8, parity_samples=4))
    return out


@pytest.fixture
def test_plugin(tmp_path, monkeypatch):
    """Install tests/hardware/plugin_pkg as a distribution with `physai.devices` entry points."""
    dist = tmp_path / "site" / "physai_testnpu-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: physai-testnpu\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[physai.devices]\ntestnpu = physai_testnpu:plugins\nbroken = physai_testnpu:Broken\n"
    )
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield
