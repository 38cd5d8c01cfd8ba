"""Fixtures: a tiny signed package, and the test plugin package registered as a physai.devices entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from physai.core.contract import Execution, PolicyContract
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


SPEC = PolicyContract(
    embodiment="toy",
    control="joint_pos",
    control_hz=50.0,
    state_names=tuple(f"s{i}" for i in range(6)),
    action_names=("a0", "a1"),
    chunk_size=4,
    execution=Execution("queue", horizon=2),
)


@pytest.fixture(scope="session")
def tiny_policy():
    """(module, contract) of the tiny test policy, for tests that export their own package."""
    return Tiny(), SPEC


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


@pytest.fixture(scope="session")
def _cache_key_home(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg-config")


@pytest.fixture(autouse=True)
def _isolated_cache_key(_cache_key_home, monkeypatch):
    """The artifact cache's secret lives under $XDG_CONFIG_HOME: keep the tests' one out of ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_cache_key_home))
