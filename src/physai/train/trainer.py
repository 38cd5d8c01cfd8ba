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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from physai.core.errors import ConfigError, PhysaiError, RobotMismatchError
from physai.core.progress import NullProgress, Progress
from physai.policies.base import POLICIES, Policy, PolicyConfig, config_replace, make_policy
from physai.policies.loading import checkpoint_policy, read_checkpoint_config
from physai.policies.spec import IOSpec
from physai.train.checkpoint import load_trainer_state, save_checkpoint
from physai.train.config import TrainConfig
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


@dataclass
class _Run:
    """Everything one training run holds between steps (built by `_setup`)."""

    cfg: TrainConfig
    out: Path
    policy: Policy
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    caches: list[Any]
    per_group: list[int]
    device: torch.device
    rank: int
    world: int
    start: int
    ema_state: dict | None
    trainer_doc: dict
    metrics_f: Any
    budget: float | None
    last_loss: float = float("nan")
    t_train: float = 0.0
    samples: int = 0

    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoint"


def train(
    datasets: Sequence[Any],
    out: str | Path,
    cfg: TrainConfig,
    resume: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Train `cfg.policy` on `datasets` (paths or dataset objects) into the run folder `out`."""
    rank, _, _ = _dist_env()
    progress = progress if (progress is not None and rank == 0) else NullProgress()
    run = _setup(datasets, Path(out), cfg, resume, progress)
    evals: list[dict] = []
    interrupted, step = False, run.start
    run.policy.train()
    progress.start(cfg.steps - run.start, f"train {cfg.policy}")
    t_wall = time.perf_counter()
    try:
        while step < cfg.steps:
            time_frac = _time_frac(run)
            if time_frac >= 1.0:
                break
            info = _step(run, step, time_frac)
            step += 1
            if run.metrics_f is not None and (step % cfg.log_every == 0 or step == cfg.steps):
                row = {"step": step, **info, "samples_per_s": run.samples / max(run.t_train, 1e-9),
                       "elapsed_s": time.perf_counter() - t_wall}
                run.metrics_f.write(json.dumps(row) + "\n")
                run.metrics_f.flush()
            eta = run.t_train / (step - run.start) * (cfg.steps - step)  # steps, or the time budget
            progress.advance(1, loss=run.last_loss,
                             eta_s=min(eta, run.budget - run.t_train) if run.budget else eta)
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                evals.append(_evaluate(run, step))
            if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
                _checkpoint(run, step, keep=True)
    except KeyboardInterrupt:
        interrupted = True
    progress.close()
    if not interrupted and (cfg.eval_at_end or cfg.eval_every):
        evals.append(_evaluate(run, step))
    _checkpoint(run, step, keep=not interrupted)
    if run.metrics_f is not None:
        run.metrics_f.close()
    return {
        "run": str(run.out),
        "checkpoint": str(run.ckpt_dir),
        "policy": cfg.policy,
        "steps": step,
        "start_step": run.start,
        "final_loss": run.last_loss,
        "interrupted": interrupted,
        "samples_per_s": run.samples / max(run.t_train, 1e-9),
        "train_seconds": run.t_train,
        "wall_seconds": time.perf_counter() - t_wall,
        "world_size": run.world,
        "device": str(run.device),
        "evals": evals,
        "success_rate": evals[-1]["success_rate"] if evals else None,
        "num_parameters": sum(p.numel() for p in run.policy.parameters()),
    }


def _policy_config(
    cfg: TrainConfig, ckpt_dir: Path, resuming: bool
) -> tuple[PolicyConfig, list[IOSpec] | None, dict | None]:
    """The policy config (and, resuming, the checkpoint's specs and learned state) of the run."""
    cls = POLICIES.get(cfg.policy)
    if not resuming:
        pcfg = config_replace(cls.config_cls(), dict(cfg.policy_overrides))
        pcfg.validate()
        return pcfg, None, None
    doc = read_checkpoint_config(ckpt_dir)
    if doc["policy"] != cfg.policy:
        raise ConfigError(f"{ckpt_dir} is a {doc['policy']!r} run, not {cfg.policy!r}; train policy "
                          f"{doc['policy']!r} to resume it")
    _, pcfg, specs, learned = checkpoint_policy(doc, ckpt_dir / "config.json")
    return pcfg, specs, learned


def _group_specs(dsets: list[Any], names: list[str], cfg: TrainConfig, pcfg: PolicyConfig,
                 ckpt_specs: list[IOSpec] | None, ckpt_dir: Path) -> tuple[list[IOSpec], list[list[Any]]]:
    """Datasets grouped by embodiment/observation layout, checked against the policy (and checkpoint)."""
    cls = POLICIES.get(cfg.policy)
    specs = [spec_from_dataset(d, pcfg, where=n) for d, n in zip(dsets, names, strict=True)]
    gspecs, groups = _group_datasets(dsets, specs)
    if len(gspecs) > 1 and not cls.multi_embodiment:
        for sp, n in zip(specs[1:], names[1:], strict=True):
            if sp.embodiment != specs[0].embodiment:
                raise RobotMismatchError(
                    f"dataset {names[0]}", specs[0].embodiment, f"dataset {n}", sp.embodiment,
                    f"policy {cfg.policy!r} trains on one robot; give datasets of one robot or train "
                    "policy 'vla'"
                )
            check_compatible(specs[0], sp, n)
        raise ConfigError(
            f"policy {cfg.policy!r} trains on one robot/observation layout, the datasets have "
            f"{len(gspecs)} ({sorted({s.embodiment for s in gspecs})}); train policy 'vla'"
        )
    if ckpt_specs is None:
        return gspecs, groups
    if len(ckpt_specs) != len(gspecs):
        raise ConfigError(f"{ckpt_dir} was trained on {len(ckpt_specs)} dataset groups, got {len(gspecs)}")
    for a, b in zip(ckpt_specs, gspecs, strict=True):
        if a.embodiment != b.embodiment:
            raise RobotMismatchError(f"checkpoint {ckpt_dir}", a.embodiment, "the dataset", b.embodiment,
                                     "resume with datasets of the robot the run was trained on")
        check_compatible(a, b, f"dataset for {b.embodiment}")
    return ckpt_specs, groups


def _setup(datasets: Sequence[Any], out: Path, cfg: TrainConfig, resume: bool, progress: Progress) -> _Run:
    """Check the options, open the data, build (or resume) the policy, optimizer and EMA."""
    cfg.validate()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run folder {out} is a file; give a folder for the run")
    rank, world, local_rank = _dist_env()
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
        raise ConfigError("no dataset given (several for vla)")
    dsets = [open_dataset(d) if isinstance(d, str | Path) else d for d in datasets]
    names = [str(d) if isinstance(d, str | Path) else f"dataset #{i}" for i, d in enumerate(datasets)]
    ckpt_dir = out / "checkpoint"
    resuming = resume and (ckpt_dir / "trainer.json").exists()
    if resume and not resuming and ckpt_dir.exists():
        raise ConfigError(f"{ckpt_dir} has no trainer state to resume from")
    if not resume and ckpt_dir.exists():
        raise ConfigError(f"{out} already holds a run; resume it or choose another run folder")
    pcfg, ckpt_specs, learned = _policy_config(cfg, ckpt_dir, resuming)
    gspecs, groups = _group_specs(dsets, names, cfg, pcfg, ckpt_specs, ckpt_dir)
    stats = [group_stats(g) for g in groups]
    torch.manual_seed(cfg.seed)
    policy: Policy = make_policy(cfg.policy, gspecs, stats, pcfg, learned).to(device)
    caches = [build_cache(g, sp, pcfg.chunk_size, progress) for g, sp in zip(groups, gspecs, strict=True)]
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, ema_state = 0, None
    if resuming:
        start, _, ema_state = load_trainer_state(ckpt_dir, policy, opt)
        ema_state = {k: v.to(device) for k, v in ema_state.items()} if cfg.ema_decay > 0 else None
    else:
        torch.manual_seed(cfg.seed + 1 + rank)
    if cfg.ema_decay > 0 and ema_state is None:
        ema_state = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    model: torch.nn.Module = policy
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            policy,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=POLICIES.get(cfg.policy).multi_embodiment,
        )
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    metrics_f = open(out / "metrics.jsonl", "a") if rank == 0 else None
    return _Run(
        cfg=cfg, out=out, policy=policy, model=model, opt=opt, caches=caches,
        per_group=[max(1, cfg.batch_size // len(caches)) for _ in caches], device=device, rank=rank,
        world=world, start=start, ema_state=ema_state,
        trainer_doc={"train_config": asdict(cfg), "datasets": names, "world_size": world},
        metrics_f=metrics_f, budget=cfg.max_minutes * 60 if cfg.max_minutes else None,
    )


def _time_frac(run: _Run) -> float:
    """Fraction of the time budget spent (0 without one); every DDP rank agrees on it."""
    time_frac = run.t_train / run.budget if run.budget else 0.0
    if run.budget and run.world > 1:  # every rank stops at the same step
        tf = torch.tensor(time_frac)
        torch.distributed.all_reduce(tf, op=torch.distributed.ReduceOp.MAX)
        time_frac = float(tf)
    return time_frac


def _step(run: _Run, step: int, time_frac: float) -> dict:
    """One optimizer step (batch of `step`, loss, divergence checks, clip, AdamW, EMA); its metrics."""
    cfg, t0 = run.cfg, time.perf_counter()
    lr = cfg.lr * lr_factor(cfg, step, time_frac)
    for group in run.opt.param_groups:
        group["lr"] = lr
    batches = []
    for g, (cache, bs) in enumerate(zip(run.caches, run.per_group, strict=True)):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 101 + g)
        idx = torch.randint(len(cache), (bs,), generator=gen)[run.rank :: run.world]
        batch = cache.batch(idx)
        batches.append({k: (v.to(run.device) if torch.is_tensor(v) else v) for k, v in batch.items()})
    use_bf16 = run.device.type == "cuda" and cfg.bf16
    with torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext():
        loss, info = run.model(batches)
    bad = torch.tensor(float(not torch.isfinite(loss).item()))
    if run.world > 1:
        torch.distributed.all_reduce(bad)
    if bad.item() > 0:
        raise TrainingDiverged(
            f"loss is {float(loss.detach())} at step {step} (lr {lr:.3g}, last finite loss "
            f"{run.last_loss:.4g}); stopped without saving, the last good checkpoint is {run.ckpt_dir} "
            "if one was written. Lower the learning rate, raise warmup, or check the dataset stats for "
            "NaN/inf"
        )
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    clip = cfg.grad_clip if cfg.grad_clip > 0 else 1e12
    gnorm = torch.nn.utils.clip_grad_norm_(run.policy.parameters(), clip)
    if not torch.isfinite(gnorm):
        raise TrainingDiverged(
            f"gradient norm is {float(gnorm)} at step {step} (loss {float(loss):.4g}); stopped without "
            f"saving, the last good checkpoint is {run.ckpt_dir}. Lower the learning rate"
        )
    run.opt.step()
    if run.ema_state is not None:
        d = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in run.policy.state_dict().items():
                if v.is_floating_point():
                    run.ema_state[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    run.ema_state[k].copy_(v)
    run.last_loss = float(loss.detach())
    run.t_train += time.perf_counter() - t0
    run.samples += cfg.batch_size
    return {"loss": run.last_loss, "lr": lr, "grad_norm": float(gnorm),
            **{k: float(v) for k, v in info.items()}}


def _checkpoint(run: _Run, step: int, keep: bool) -> None:
    """Save the run's checkpoint (rank 0) and redraw its curve."""
    if run.rank == 0:
        save_checkpoint(run.out, run.policy, run.ema_state, run.policy.state_dict(), run.opt, step,
                        run.trainer_doc, keep)
        _plot(run.out)


def _evaluate(run: _Run, step: int) -> dict:
    return _eval(run.policy, run.ema_state, run.cfg, step, run.metrics_f, run.rank, run.world)


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
            raise ConfigError("the dataset does not say which task it came from; set the evaluation task "
                              "(eval_task SUITE/TASK)")
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
