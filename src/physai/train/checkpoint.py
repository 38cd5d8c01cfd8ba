"""Training checkpoints: the policy (EMA weights) plus the trainer state, all safetensors + JSON.

Layout of a run folder:
    checkpoint/                  latest: config.json, model.safetensors (what eval/export load),
                                 trainer.json, trainer.safetensors (raw weights, optimizer, RNG)
    checkpoints/step_000500/     earlier ones, same files
    metrics.jsonl, curve.png
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from physai.policies.base import CheckpointError, Policy


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"opt.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, pid, k = key.split(".", 2)
            state.setdefault(int(pid), {})[k] = v
    for pid, st in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(
    run_dir: Path,
    policy: Policy,
    ema_state: dict[str, torch.Tensor] | None,
    raw_state: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    step: int,
    trainer_doc: dict,
    keep_copy: bool,
) -> Path:
    """Write `run_dir/checkpoint/` atomically (tmp folder + rename); optionally keep a copy under
    `checkpoints/step_N/`. The policy files hold the EMA weights when EMA is on."""
    tmp = run_dir / ".checkpoint.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    if ema_state is not None:
        backup = {k: v.detach().clone() for k, v in policy.state_dict().items()}
        policy.load_state_dict(ema_state)
        policy.save(tmp, extra={"step": step, "weights": "ema"})
        policy.load_state_dict(backup)
    else:
        policy.save(tmp, extra={"step": step, "weights": "raw"})
    opt_t, opt_meta = _flatten_optimizer(opt)
    tensors = {f"raw.{k}": v.detach().cpu().contiguous() for k, v in raw_state.items()}
    tensors.update(opt_t)
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "trainer.safetensors"))
    (tmp / "trainer.json").write_text(
        json.dumps({**trainer_doc, "step": step, "optimizer": opt_meta}, indent=2)
    )
    final = run_dir / "checkpoint"
    old = run_dir / ".checkpoint.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    if keep_copy:
        dst = run_dir / "checkpoints" / f"step_{step:07d}"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(final, dst)
    return final


def load_trainer_state(ckpt: Path, policy: Policy, opt: torch.optim.Optimizer) -> tuple[int, dict, dict]:
    """Restore raw weights, optimizer and RNG from `ckpt`; returns (step, trainer.json, EMA state)."""
    if not (ckpt / "trainer.json").exists() or not (ckpt / "trainer.safetensors").exists():
        raise CheckpointError(
            f"{ckpt} has no trainer state (trainer.json, trainer.safetensors); "
            "it cannot be resumed — start a new run in another folder"
        )
    try:
        doc = json.loads((ckpt / "trainer.json").read_text())
        tensors = load_file(str(ckpt / "trainer.safetensors"))
        ema = load_file(str(ckpt / "model.safetensors"))
    except Exception as exc:
        raise CheckpointError(
            f"{ckpt}: trainer state cannot be read ({exc}); resume from an earlier "
            "checkpoint under checkpoints/ by copying it to checkpoint/"
        ) from None
    raw = {k[4:]: v for k, v in tensors.items() if k.startswith("raw.")}
    try:
        policy.load_state_dict(raw, strict=True)
        _unflatten_optimizer(opt, tensors, doc["optimizer"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{ckpt}: trainer state does not match this policy/config ({exc})") from None
    torch.set_rng_state(tensors["rng.torch"])
    return int(doc["step"]), doc, ema
