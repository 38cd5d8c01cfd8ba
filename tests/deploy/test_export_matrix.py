"""Every registered policy exports from every input kind, on the path a user takes: `collect` (its default
cameras) -> `train` a few steps -> `export` signed (fp32 + the batched model) -> `verify` -> 20 runtime
cycles in sim through a driver made from the package's contract. ONNX parity <= 1e-4 is checked by the
exporter, which refuses otherwise."""

from __future__ import annotations

import pytest

from physai.data.collect import CollectConfig, collect
from physai.deploy import signing
from physai.deploy.drivers.sim import sim_driver_for
from physai.deploy.package import ExportConfig, export_checkpoint, load_package
from physai.deploy.runtime import Runtime, RuntimeConfig
from physai.policies import POLICIES
from physai.train.trainer import TrainConfig, train

# input kind -> (task, collect cameras (None: collect's default, every camera), policy overrides)
KINDS = {
    "state": ("tabletop/pick-place", (), {}),
    "one_camera": ("tabletop/pick-place", ("scene",), {}),
    "two_cameras": ("tabletop/pick-place", None, {}),
    "tactile": ("dexterous/grasp-lift", (), {}),
    "instruction": ("tabletop/pick-place", (), {"act": {"use_instruction": True}}),
}


def _reads_instruction(name: str) -> bool:
    return POLICIES.get(name).uses_instruction or "use_instruction" in {
        f for f in POLICIES.get(name).config_cls.__dataclass_fields__
    }


CASES = [
    (p, k) for p in POLICIES.names() for k in KINDS if k != "instruction" or _reads_instruction(p)
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix-data")
    made = {}
    for kind, (task, cams, _) in KINDS.items():
        key = (task, cams)
        if key not in made:
            out = root / kind
            collect(CollectConfig(task=task, episodes=1, out=str(out), cameras=cams, image_size=32,
                                  max_steps=12, keep_failures=True))
            made[key] = out
    return made


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return signing.generate_keys(tmp_path_factory.mktemp("matrix-keys"))


@pytest.mark.parametrize(("policy", "kind"), CASES)
def test_policy_exports_and_runs_from_every_input_kind(policy, kind, datasets, signer, small, tmp_path):
    task, cams, extra = KINDS[kind]
    over = {**small[policy], **extra.get(policy, {})}
    run = tmp_path / "run"
    train([datasets[(task, cams)]], run, TrainConfig(policy=policy, steps=2, batch_size=4, warmup_steps=1,
                                                    save_every=0, log_every=1, policy_overrides=over))
    rep = export_checkpoint(run / "checkpoint", tmp_path / "pkg", sign_key=signer[0],
                            config=ExportConfig(max_batch=4, parity_samples=4))
    assert rep["parity"]["max_abs_diff"] <= 1e-4 and rep["parity"]["batched_max_abs_diff"] <= 1e-4
    pkg = load_package(tmp_path / "pkg", signing.trusted_keys(signer[1]))
    c = pkg.contract
    if kind in ("one_camera", "two_cameras"):
        assert len(c.cameras) == (1 if kind == "one_camera" else 2) and c.image_size == (32, 32)
    assert (c.tactile_dim > 0) == (kind == "tactile")
    always_text = POLICIES.get(policy).uses_instruction  # the vla always reads its instruction
    assert (c.instruction == "input") == (kind == "instruction" or always_text)
    drv = sim_driver_for(c, task, realtime=False, seed=3)
    out = Runtime(pkg, drv, RuntimeConfig(realtime=False, max_cycles=20, stop_on_done=False)).run()
    assert out["cycles"] >= 20 and out["hz"] == c.control_hz
    assert out["inference"]["late_cycles"] == 0
