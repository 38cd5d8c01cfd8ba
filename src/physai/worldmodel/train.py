"""Training a world model: multi-step open-loop loss over H steps, bootstrap batches per member.

For a window s_t..s_{t+H}, a_t..a_{t+H-1} each member rolls its own prediction forward H steps from s_t
(never fed the recorded states in between) and pays the normalised squared error at every step, plus the
success cross-entropy at every step; the progress head V(s) is fitted to discount^(steps to success).
Held-out episodes give the open-loop error at each horizon 1..H, stored in the checkpoint (the planner
warns with it when asked to plan past H).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from physai.core.errors import ConfigError
from physai.core.progress import NullProgress, Progress
from physai.worldmodel.data import Episodes, load_episodes, partial_windows, windows
from physai.worldmodel.model import WorldModel, WorldModelConfig


def progress_targets(eps: Episodes, discount: float) -> np.ndarray:
    """(N,) discount^(steps from row t until the step that succeeds), 0 where the episode never does."""
    out = np.zeros(len(eps.state), np.float32)
    for a, b in zip(eps.starts, eps.ends, strict=True):
        hit = np.flatnonzero(eps.success[a:b] > 0.5)
        if len(hit):
            k = int(hit[0])
            out[a:a + k + 1] = discount ** (k - np.arange(k + 1))
            out[a + k + 1:b] = 1.0
    return out


def normalisation(eps: Episodes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mean/std of states, actions and one-step state changes (std floored so constants stay finite)."""
    rows = np.concatenate([np.arange(a, b - 1) for a, b in zip(eps.starts, eps.ends, strict=True)])
    delta = eps.state[rows + 1] - eps.state[rows]

    def ms(x: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
        return x.mean(0), np.maximum(x.std(0), floor)

    return {"state": ms(eps.state, 1e-3), "action": ms(eps.action, 1e-3), "delta": ms(delta, 1e-4)}


def split(eps: Episodes, fraction: float, rng: np.random.Generator) -> tuple[Episodes, Episodes | None]:
    n = eps.num_episodes
    k = max(1, int(round(fraction * n))) if fraction > 0 and n >= 5 else 0
    order = rng.permutation(n)
    if k == 0:
        return eps, None
    return eps.select(np.sort(order[k:])), eps.select(np.sort(order[:k]))


def _batch(eps: Episodes, starts: np.ndarray, ends: np.ndarray, h: int, prog: np.ndarray
           ) -> dict[str, torch.Tensor]:
    """Windows t..t+h clipped to their episode; `s_mask` / `a_mask` mark recorded states / actions."""
    raw = starts[..., None] + np.arange(h + 1)
    last = ends[..., None] - 1
    rows = np.minimum(raw, last)
    return {"s": torch.from_numpy(eps.state[rows]), "a": torch.from_numpy(eps.action[rows[..., :-1]]),
            "succ": torch.from_numpy(eps.success[rows[..., :-1]]), "v": torch.from_numpy(prog[rows]),
            "s_mask": torch.from_numpy((raw <= last).astype(np.float32)),
            "a_mask": torch.from_numpy((raw[..., :-1] <= last).astype(np.float32)),
            "ok": torch.from_numpy((prog[rows] > 0).astype(np.float32))}


def rollout_loss(model: WorldModel, b: dict[str, torch.Tensor], cfg: WorldModelConfig
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """Open-loop loss of a batch (E, B, ·): state MSE + success BCE over H steps + progress BCE."""
    s_n = model.norm_state(b["s"])
    a_n = model.norm_action(b["a"])
    cur = s_n[:, :, 0]
    sm, am = b["s_mask"], b["a_mask"]
    state_loss = succ_loss = torch.zeros(())
    h = a_n.shape[2]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for t in range(h):
        cur, logit = model.step_n(cur, a_n[:, :, t])
        m = sm[:, :, t + 1]
        err = ((cur - s_n[:, :, t + 1]) ** 2).mean(-1)
        state_loss = state_loss + (err * m).sum() / m.sum().clamp_min(1.0)
        m = am[:, :, t]
        s_err = bce(logit, b["succ"][:, :, t], reduction="none")
        succ_loss = succ_loss + (s_err * m).sum() / m.sum().clamp_min(1.0)
    v_logit = model.value_logit(s_n.flatten(1, 2).contiguous())
    v_loss = (bce(v_logit, b["v"].flatten(1, 2), reduction="none") * sm.flatten(1, 2)).sum() / sm.sum()
    ok = b["ok"][:, :, :1] * am  # actions of episodes that succeeded: the prior imitates those
    a_err = ((model.prior_action_n(s_n[:, :, :-1]) - a_n) ** 2).mean(-1)
    p_loss = (a_err * ok).sum() / ok.sum().clamp_min(1.0)
    loss = state_loss / h + cfg.success_weight * succ_loss / h + 0.5 * v_loss + 0.5 * p_loss
    parts = {"state": state_loss.item() / h, "success": succ_loss.item() / h, "value": v_loss.item(),
             "prior": p_loss.item()}
    return loss, parts


@torch.no_grad()
def open_loop_error(model: WorldModel, eps: Episodes, horizon: int, groups: dict[str, list[int]],
                    max_windows: int = 2048, seed: int = 0) -> dict[str, list[float]]:
    """RMSE in normalised state units per horizon 1..H and group (ensemble mean prediction)."""
    starts = windows(eps, horizon)
    if len(starts) == 0:
        raise ConfigError(f"no held-out window of {horizon + 1} frames; record longer episodes or lower H")
    if len(starts) > max_windows:
        starts = np.random.default_rng(seed).choice(starts, max_windows, replace=False)
    rows = starts[:, None] + np.arange(horizon + 1)
    s = torch.from_numpy(eps.state[rows])
    out = model.rollout(s[:, 0], torch.from_numpy(eps.action[rows[:, :-1]]))
    pred = model.norm_state(out["states"].mean(0)[:, 1:])
    true = model.norm_state(s[:, 1:])
    err = (pred - true) ** 2  # (B, H, S)
    return {g: torch.sqrt(err[..., idx].mean(dim=(0, 2))).tolist() for g, idx in groups.items()}


def train_world_model(datasets: list[str | Path], out: str | Path, cfg: WorldModelConfig | None = None,
                      progress: Progress | None = None) -> dict:
    """Train on `datasets`, save to `out` (config.json + model.safetensors); returns the summary."""
    from physai.worldmodel.checkpoint import save_world_model
    from physai.worldmodel.data import state_groups

    cfg = cfg or WorldModelConfig()
    cfg.validate()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new --out folder")
    eps = load_episodes(list(datasets))
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    train, val = split(eps, cfg.val_fraction, rng)
    starts, ends = partial_windows(train)
    if len(windows(train, cfg.horizon)) < 8:
        raise ConfigError(f"fewer than 8 training windows of {cfg.horizon + 1} frames; record more or "
                          f"longer episodes, or lower --horizon")
    model = WorldModel(cfg, eps.state.shape[1], eps.action.shape[1])
    model.set_stats(normalisation(train))
    prog = progress_targets(train, cfg.discount)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=0.1 * cfg.lr)
    progress = progress or NullProgress()
    progress.start(cfg.steps, "train world model")
    t0, c0 = time.perf_counter(), time.process_time()
    history: list[dict] = []
    try:
        for step in range(1, cfg.steps + 1):
            pick = rng.integers(len(starts), size=(cfg.ensemble, cfg.batch_size))  # bootstrap: own batch each
            loss, parts = rollout_loss(model, _batch(train, starts[pick], ends[pick], cfg.horizon, prog), cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            if not torch.isfinite(loss):
                raise ConfigError(f"world model loss became {float(loss)} at step {step}; lower --lr")
            if step % 100 == 0 or step == cfg.steps:
                history.append({"step": step, "loss": loss.item(), **parts})
                progress.advance(100 if step % 100 == 0 else step % 100, loss=round(loss.item(), 4))
    finally:
        progress.close()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    model.eval()
    groups = state_groups(eps.state_names, eps.embodiment)
    errors = open_loop_error(model, val or train, cfg.horizon, groups, seed=cfg.seed)
    summary = {
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "episodes": eps.num_episodes,
        "train_episodes": train.num_episodes,
        "val_episodes": val.num_episodes if val is not None else 0,
        "frames": int(len(eps.state)),
        "error_split": "val" if val is not None else "train",
        "open_loop_rmse": errors,
        "history": history,
    }
    save_world_model(out, model, eps, summary)
    return {"out": str(out), **{k: v for k, v in summary.items() if k != "history"},
            "final_loss": history[-1]["loss"]}
