"""`train`: AdamW + warmup/cosine, grad clipping, EMA, deterministic seeding, bf16 on CUDA, checkpoints
(every K steps, at the end, on Ctrl-C), resume, metrics.jsonl + curve.png, closed-loop eval, DDP.

Determinism: the policy is initialised from `seed`; the global batch of step s is drawn from a generator
seeded by (seed, s), and rank r of W takes rows r::W of it, so W processes see the same global batch as
one process (DDP averages their gradients). Model noise (dropout, CVAE, flow) comes from the torch RNG,
whose state is checkpointed, so a resumed run continues the same curve.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from physai.core.errors import ConfigError, PhysaiError, RobotMismatchError
from physai.core.progress import NullProgress, Progress
from physai.policies.base import POLICIES, Policy, make_policy
from physai.policies.loading import read_checkpoint_config
from physai.policies.spec import IOSpec
from physai.train.checkpoint import load_trainer_state, save_checkpoint
from physai.train.data import (
    build_cache,
    check_compatible,
    group_key,
    group_stats,
    open_dataset,
    spec_from_dataset,
)


class TrainingDiverged(PhysaiError):
    """The loss or the gradients became NaN/inf; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Options of a training run."""

    policy: str = "act"
    """Registered policy name (mlp, act, flow, vla)."""
    steps: int = 5000
    """Optimizer steps in total (a resumed run continues up to this)."""
    batch_size: int = 64
    """Global batch size (split across DDP ranks and embodiment groups)."""
    lr: float = 3e-4
    """Peak learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_steps: int = 200
    """Linear warmup steps before the cosine decay (capped at steps/10)."""
    min_lr_ratio: float = 0.05
    """Final learning rate as a fraction of `lr`."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (0: off)."""
    ema_decay: float = 0.995
    """EMA decay of the weights saved for inference (0: no EMA)."""
    seed: int = 0
    """Seed of initialisation, batches and model noise."""
    save_every: int = 1000
    """Checkpoint every this many steps (also kept under checkpoints/)."""
    log_every: int = 10
    """Write a metrics.jsonl row every this many steps."""
    eval_every: int = 0
    """Closed-loop evaluation every this many steps (0: only when `eval_at_end`)."""
    eval_at_end: bool = False
    """Evaluate once after the last step."""
    eval_episodes: int = 10
    """Episodes per evaluation."""
    eval_task: str | None = None
    """Task to evaluate on (default: the task the dataset says it came from)."""
    eval_seed: int = 100_000
    """First seed of the evaluation episodes (away from the seeds demos are usually recorded with)."""
    device: str = "auto"
    """'auto' (cuda if available), 'cpu' or 'cuda[:i]'."""
    bf16: bool = True
    """bf16 autocast on CUDA."""
    num_threads: int | None = None
    """CPU threads for torch (None: torch's default; 1 is fastest on a shared, oversubscribed CPU)."""
    max_minutes: float | None = None
    """Wall-clock budget: stop (and finish the cosine decay) after this many minutes of training."""
    policy_overrides: dict = field(default_factory=dict)
    """Policy config fields to change, e.g. {'chunk_size': 20}."""

    def validate(self) -> None:
        """ConfigError naming the CLI option of the first value out of range."""
        checks = (
            ("--steps", self.steps, self.steps >= 1, "at least 1"),
            ("--batch-size", self.batch_size, self.batch_size >= 1, "at least 1"),
            ("--lr", self.lr, math.isfinite(self.lr) and self.lr > 0, "a positive number"),
            ("--minutes", self.max_minutes,
             self.max_minutes is None or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
             "a positive number of minutes"),
            ("--threads", self.num_threads, self.num_threads is None or self.num_threads >= 1, "at least 1"),
            ("--save-every", self.save_every, self.save_every >= 0, "0 (off) or more"),
            ("--eval-every", self.eval_every, self.eval_every >= 0, "0 (off) or more"),
            ("--eval-episodes", self.eval_episodes, self.eval_episodes >= 1, "at least 1"),
        )
        for opt, value, ok, want in checks:
            if not ok:
                raise ConfigError(f"{opt} must be {want}, got {value}")
        if self.device != "auto":
            try:
                dev = torch.device(self.device)
            except (RuntimeError, ValueError):
                raise ConfigError(f"--device {self.device!r}: use auto, cpu or cuda[:INDEX]") from None
            if dev.type == "cuda" and not torch.cuda.is_available():
                raise ConfigError(f"--device {self.device}: no CUDA device here; use --device cpu (or auto)")


def lr_factor(cfg: TrainConfig, step: int, time_frac: float = 0.0) -> float:
    """Linear warmup, then cosine decay to `min_lr_ratio` over the steps (or the time budget if sooner)."""
    warm = max(1, min(cfg.warmup_steps, cfg.steps // 10))
    if step < warm:
        return (step + 1) / warm
    p = min(1.0, max((step - warm) / max(1, cfg.steps - warm), time_frac))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))


def _dist_env() -> tuple[int, int, int]:
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _group_datasets(datasets: list[Any], specs: list[IOSpec]) -> tuple[list[IOSpec], list[list[Any]]]:
    keys: list[tuple] = []
    groups: list[list[Any]] = []
    gspecs: list[IOSpec] = []
    for ds, sp in zip(datasets, specs, strict=True):
        k = group_key(sp)
        if k not in keys:
            keys.append(k)
            groups.append([])
            gspecs.append(sp)
        else:  # merge task lists of datasets in the same group
            g = gspecs[keys.index(k)]
            g.tasks = g.tasks + [t for t in sp.tasks if t not in g.tasks]
        groups[keys.index(k)].append(ds)
    return gspecs, groups


def train(
    datasets: Sequence[Any],
    out: str | Path,
    cfg: TrainConfig,
    resume: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Train `cfg.policy` on `datasets` (paths or dataset objects) into the run folder `out`."""
    out = Path(out)
    cfg.validate()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the run")
    rank, world, local_rank = _dist_env()
    progress = progress if (progress is not None and rank == 0) else NullProgress()
    if cfg.batch_size % world:
        raise ConfigError(f"batch size {cfg.batch_size} is not divisible by the {world} DDP processes")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        )
    device = _device(cfg, local_rank)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if not datasets:
        raise ConfigError("no dataset given; pass --dataset DIR (several for vla)")
    dsets = [open_dataset(d) if isinstance(d, str | Path) else d for d in datasets]
    names = [str(d) if isinstance(d, str | Path) else f"dataset #{i}" for i, d in enumerate(datasets)]

    ckpt_dir = out / "checkpoint"
    resuming = resume and (ckpt_dir / "trainer.json").exists()
    if resume and not resuming and (out / "checkpoint").exists():
        raise ConfigError(f"{ckpt_dir} has no trainer state to resume from")
    if not resume and ckpt_dir.exists():
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    cls = POLICIES.get(cfg.policy)
    if resuming:
        doc = read_checkpoint_config(ckpt_dir)
        if doc["policy"] != cfg.policy:
            raise ConfigError(
                f"{ckpt_dir} is a {doc['policy']!r} run, not {cfg.policy!r}; pass --policy {doc['policy']}"
            )
        pcfg = cls.config_cls(**doc["config"])
        ckpt_specs = [IOSpec.from_dict(s) for s in doc["specs"]]
    else:
        pcfg = cls.config_cls()
        from physai.policies.base import config_replace

        pcfg = config_replace(pcfg, dict(cfg.policy_overrides)) if cfg.policy_overrides else pcfg
        pcfg.validate()
    specs = [spec_from_dataset(d, pcfg, where=n) for d, n in zip(dsets, names, strict=True)]
    gspecs, groups = _group_datasets(dsets, specs)
    if len(gspecs) > 1 and not cls.multi_embodiment:
        for sp, n in zip(specs[1:], names[1:], strict=True):
            if sp.embodiment != specs[0].embodiment:
                raise RobotMismatchError(
                    f"dataset {names[0]}", specs[0].embodiment, f"dataset {n}", sp.embodiment,
                    f"policy {cfg.policy!r} trains on one robot; give datasets of one robot or use "
                    "--policy vla"
                )
            check_compatible(specs[0], sp, n)
        raise ConfigError(
            f"policy {cfg.policy!r} trains on one robot/observation layout, the datasets have "
            f"{len(gspecs)} ({sorted({s.embodiment for s in gspecs})}); use --policy vla"
        )
    if resuming:
        if len(ckpt_specs) != len(gspecs):
            raise ConfigError(
                f"{ckpt_dir} was trained on {len(ckpt_specs)} dataset groups, got {len(gspecs)}"
            )
        for a, b in zip(ckpt_specs, gspecs, strict=True):
            if a.embodiment != b.embodiment:
                raise RobotMismatchError(f"checkpoint {ckpt_dir}", a.embodiment, "the dataset", b.embodiment,
                                         "resume with datasets of the robot the run was trained on")
            check_compatible(a, b, f"dataset for {b.embodiment}")
        gspecs = ckpt_specs

    stats = [group_stats(g) for g in groups]
    torch.manual_seed(cfg.seed)
    policy: Policy = make_policy(cfg.policy, gspecs, stats, pcfg).to(device)
    caches = [build_cache(g, sp, pcfg.chunk_size, progress) for g, sp in zip(groups, gspecs, strict=True)]
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, ema_state = 0, None
    if resuming:
        start, _, ema_state = load_trainer_state(ckpt_dir, policy, opt)
        ema_state = {k: v.to(device) for k, v in ema_state.items()} if cfg.ema_decay > 0 else None
    else:
        torch.manual_seed(cfg.seed + 1 + rank)
    budget = cfg.max_minutes * 60 if cfg.max_minutes else None
    if cfg.ema_decay > 0 and ema_state is None:
        ema_state = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    model: torch.nn.Module = policy
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            policy,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cls.multi_embodiment,
        )
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    metrics_f = open(out / "metrics.jsonl", "a") if rank == 0 else None
    trainer_doc = {"train_config": asdict(cfg), "datasets": names, "world_size": world}
    per_group = [max(1, cfg.batch_size // len(caches)) for _ in caches]
    evals: list[dict] = []
    last_loss, interrupted, t_train, samples = float("nan"), False, 0.0, 0
    step = start
    use_bf16 = device.type == "cuda" and cfg.bf16
    policy.train()
    progress.start(cfg.steps - start, f"train {cfg.policy}")
    t_wall = time.perf_counter()

    def checkpoint(step_: int, keep: bool) -> None:
        if rank == 0:
            save_checkpoint(out, policy, ema_state, policy.state_dict(), opt, step_, trainer_doc, keep)
            _plot(out)

    try:
        while step < cfg.steps:
            t0 = time.perf_counter()
            time_frac = t_train / budget if budget else 0.0
            if budget and world > 1:  # every rank stops at the same step
                tf = torch.tensor(time_frac)
                torch.distributed.all_reduce(tf, op=torch.distributed.ReduceOp.MAX)
                time_frac = float(tf)
            if time_frac >= 1.0:
                break
            lr = cfg.lr * lr_factor(cfg, step, time_frac)
            for group in opt.param_groups:
                group["lr"] = lr
            batches = []
            for g, (cache, bs) in enumerate(zip(caches, per_group, strict=True)):
                gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + g)
                idx = torch.randint(len(cache), (bs,), generator=gen)[rank::world]
                batches.append(
                    {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in cache.batch(idx).items()}
                )
            with torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext():
                loss, info = model(batches)
            bad = torch.tensor(float(not torch.isfinite(loss).item()))
            if world > 1:
                torch.distributed.all_reduce(bad)
            if bad.item() > 0:
                raise TrainingDiverged(
                    f"loss is {float(loss.detach())} at step {step} (lr {lr:.3g}, "
                    f"last finite loss "
                    f"{last_loss:.4g}); stopped without saving, the last good checkpoint is {ckpt_dir} "
                    "if one was written. Lower --lr, raise warmup, or check the dataset stats for NaN/inf"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(
                policy.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else 1e12
            )
            if not torch.isfinite(gnorm):
                raise TrainingDiverged(
                    f"gradient norm is {float(gnorm)} at step {step} (loss {float(loss):.4g}); "
                    f"stopped without saving, the last good checkpoint is {ckpt_dir}. Lower --lr"
                )
            opt.step()
            if ema_state is not None:
                d = min(cfg.ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for k, v in policy.state_dict().items():
                        if v.is_floating_point():
                            ema_state[k].mul_(d).add_(v.detach(), alpha=1 - d)
                        else:
                            ema_state[k].copy_(v)
            step += 1
            last_loss = float(loss.detach())
            t_train += time.perf_counter() - t0
            samples += cfg.batch_size
            if metrics_f is not None and (step % cfg.log_every == 0 or step == cfg.steps):
                row = {
                    "step": step,
                    "loss": last_loss,
                    "lr": lr,
                    "grad_norm": float(gnorm),
                    "samples_per_s": samples / max(t_train, 1e-9),
                    "elapsed_s": time.perf_counter() - t_wall,
                    **{k: float(v) for k, v in info.items()},
                }
                metrics_f.write(json.dumps(row) + "\n")
                metrics_f.flush()
            done = step - start
            eta = t_train / done * (cfg.steps - step)  # the steps, or the time budget if it ends first
            progress.advance(1, loss=last_loss, eta_s=min(eta, budget - t_train) if budget else eta)
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                evals.append(_eval(policy, ema_state, cfg, step, metrics_f, rank, world))
            if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
                checkpoint(step, keep=True)
    except KeyboardInterrupt:
        interrupted = True
    progress.close()
    if not interrupted and (cfg.eval_at_end or cfg.eval_every):
        evals.append(_eval(policy, ema_state, cfg, step, metrics_f, rank, world))
    checkpoint(step, keep=not interrupted)
    if metrics_f is not None:
        metrics_f.close()
    return {
        "run": str(out),
        "checkpoint": str(ckpt_dir),
        "policy": cfg.policy,
        "steps": step,
        "start_step": start,
        "final_loss": last_loss,
        "interrupted": interrupted,
        "samples_per_s": samples / max(t_train, 1e-9),
        "train_seconds": t_train,
        "wall_seconds": time.perf_counter() - t_wall,
        "world_size": world,
        "device": str(device),
        "evals": evals,
        "success_rate": evals[-1]["success_rate"] if evals else None,
        "num_parameters": sum(p.numel() for p in policy.parameters()),
    }


def _eval(
    policy: Policy, ema_state: dict | None, cfg: TrainConfig, step: int, metrics_f: Any, rank: int, world: int
) -> dict:
    """Closed-loop success of the EMA weights on rank 0 (other ranks wait)."""
    res: dict = {"step": step}
    if rank == 0:
        from physai.train.evaluate import evaluate_policy

        model = copy.deepcopy(policy)
        if ema_state is not None:
            model.load_state_dict(ema_state)
        task = cfg.eval_task or model.spec.env_task
        if task is None:
            raise ConfigError("the dataset does not say which task it came from; pass --eval-task SUITE/TASK")
        r = evaluate_policy(model, task, cfg.eval_episodes, cfg.eval_seed)
        res.update({"task": task, "success_rate": r["success_rate"], "episodes": cfg.eval_episodes})
        if metrics_f is not None:
            metrics_f.write(
                json.dumps(
                    {
                        "step": step,
                        "eval_success_rate": r["success_rate"],
                        "eval_task": task,
                        "eval_episodes": cfg.eval_episodes,
                    }
                )
                + "\n"
            )
            metrics_f.flush()
    if world > 1:
        torch.distributed.barrier()
    return res


def _plot(out: Path) -> None:
    from physai.train.plot import plot_curve

    plot_curve(out / "metrics.jsonl", out / "curve.png")
