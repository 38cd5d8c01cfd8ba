"""DDP: two gloo CPU processes reproduce single-process training on the same global batch."""

import pytest
import torch
from safetensors.torch import load_file

from physai.train import TrainConfig, train
from physai.train.distributed import run_local


@pytest.mark.slow  # ~40 s on the shared 2-core machine (spawning two torch processes)
def test_two_process_ddp_matches_single_process(tiny_ds, small, tmp_path):
    cfg = TrainConfig(
        policy="mlp",
        steps=6,
        batch_size=16,
        lr=1e-3,
        ema_decay=0.0,
        save_every=0,
        policy_overrides=small["mlp"],
        device="cpu",
    )
    single = train([tiny_ds], tmp_path / "single", cfg)
    run_local(2, [tiny_ds], tmp_path / "ddp", cfg)
    a = load_file(str(tmp_path / "single" / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "ddp" / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys()
    moved = 0
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    init = train([tiny_ds], tmp_path / "init", TrainConfig(**{**cfg.__dict__, "steps": 0}))
    c = load_file(str(tmp_path / "init" / "checkpoint" / "model.safetensors"))
    moved = sum(float((a[k] - c[k]).abs().max()) > 1e-4 for k in a if a[k].is_floating_point())
    assert moved > 0 and single["steps"] == 6 and init["steps"] == 0  # training changed the weights
