"""`physai wm judge`: score policy checkpoints inside a world model, without a simulator.

Each checkpoint drives the model in closed loop from recorded initial states (the first frame of dataset
episodes): the policy sees the imagined state, the ensemble-mean model predicts the next one, and the
episode's imagined success is the probability that some step succeeds, 1 - prod_t (1 - p_t), counted
only while the members agree as well as on `spread_quantile` (0.99) of the recorded transitions (past that
the imagined episode ends: the model no longer knows the world). With `simulate` the same checkpoints
also run in the real simulator (`physai eval`), and the report gives the
Kendall rank correlation between imagined and simulated success and the compute each took.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from physai.core.errors import ConfigError
from physai.core.progress import NullProgress, Progress
from physai.worldmodel.checkpoint import LoadedWorldModel, check_compatible
from physai.worldmodel.data import load_episodes


def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b (ties in either ranking handled); nan when one side is constant."""
    n = len(x)
    conc = disc = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom else float("nan")


@torch.no_grad()
def spread_limit(wm: LoadedWorldModel, state: np.ndarray, action: np.ndarray,
                 quantile: float = 0.99) -> float:
    """The `quantile` of the members' one-step disagreement over recorded transitions: beyond it the model
    is less sure than on (almost) all of its data."""
    m = wm.model
    s_n = m.norm_state(torch.from_numpy(state)).unsqueeze(0).expand(m.cfg.ensemble, -1, -1)
    a_n = m.norm_action(torch.from_numpy(action)).unsqueeze(0).expand(m.cfg.ensemble, -1, -1)
    return float(np.quantile(m.step_n(s_n, a_n)[0].std(0).mean(-1).numpy(), quantile))


@torch.no_grad()
def imagine_policy(wm: LoadedWorldModel, policy, starts: np.ndarray, max_steps: int,
                   max_spread: float | None = None) -> dict:
    """Closed-loop imagination of `policy` from each raw initial state in `starts` (N, S). With
    `max_spread`, an episode ends (no further chance of success) once the members disagree more than that:
    success imagined where the model does not know the world is not counted."""
    m = wm.model
    probs, stopped = [], 0
    for s0 in starts:
        policy.reset()
        s_n = m.norm_state(torch.from_numpy(s0[None].astype(np.float32))).expand(m.cfg.ensemble, 1, -1)
        alive = 1.0
        for _ in range(max_steps):
            state = m.denorm_state(s_n.mean(0))[0].numpy()
            a = np.asarray(policy.act({"state": state}), np.float32)
            a_n = m.norm_action(torch.from_numpy(a)).expand(m.cfg.ensemble, 1, -1)
            nxt, logit = m.step_n(s_n, a_n)
            if max_spread is not None and float(nxt.std(0).mean()) > max_spread:
                stopped += 1
                break
            alive *= 1.0 - float(torch.sigmoid(logit).mean())
            s_n = nxt.mean(0, keepdim=True).expand(m.cfg.ensemble, -1, -1)  # ensemble-mean trajectory
            if alive < 1e-3:
                break
        probs.append(1.0 - alive)
    return {"success": float(np.mean(probs)), "episodes": len(probs), "per_episode": probs,
            "stopped_uncertain": stopped}


def judge(wm: LoadedWorldModel, checkpoints: list[str | Path], datasets: list[str | Path] | None = None,
          episodes: int = 20, max_steps: int | None = None, simulate: bool = False, sim_episodes: int = 30,
          task: str | None = None, seed: int = 0, out: str | Path | None = None,
          progress: Progress | None = None, spread_quantile: float | None = 0.99) -> dict:
    """Imagined success of every checkpoint (and simulated, with `simulate`); returns the JSON doc."""
    from physai.policies.loading import load_policy

    if not checkpoints:
        raise ConfigError("no checkpoint given; pass --policies CKPT [CKPT ...]")
    datasets = datasets or [d["path"] for d in wm.doc.get("datasets", [])]
    eps = load_episodes(list(datasets))
    check_compatible(wm, eps.state_names, eps.action_names, eps.embodiment, f"dataset {datasets[0]}")
    task = task or wm.doc.get("task")
    if max_steps is None:
        from physai.tasks import TASKS

        max_steps = TASKS.get(task).default_max_steps if task else 150
    rng = np.random.default_rng(seed)
    picks = rng.choice(eps.num_episodes, size=min(episodes, eps.num_episodes), replace=False)
    starts = eps.state[eps.starts[np.sort(picks)]]
    limit = None if spread_quantile is None else spread_limit(wm, eps.state, eps.action, spread_quantile)
    policies = []
    for ck in checkpoints:
        pol = load_policy(ck)
        c = pol.contract()
        if c.cameras or c.instruction != "none" or c.tactile_dim:
            raise ConfigError(f"checkpoint {ck} reads cameras/instructions/tactile; the world model imagines "
                              "state only — judge state-only policies")
        check_compatible(wm, list(c.state_names), list(c.action_names), c.embodiment, f"checkpoint {ck}")
        policies.append(pol)
    progress = progress or NullProgress()
    progress.start(len(policies) * (2 if simulate else 1), "judge checkpoints")
    rows = []
    try:
        for ck, pol in zip(checkpoints, policies, strict=True):
            t0 = time.perf_counter()
            r = imagine_policy(wm, pol, starts, max_steps, limit)
            row = {"checkpoint": str(ck), "imagined_success": r["success"],
                   "imagined_stopped_uncertain": r["stopped_uncertain"],
                   "imagined_episodes": r["episodes"],
                   "imagined_seconds": round(time.perf_counter() - t0, 2)}
            progress.advance(1)
            if simulate:
                row.update(_simulate(str(ck), task, sim_episodes, seed, out))
                progress.advance(1)
            rows.append(row)
    finally:
        progress.close()
    doc: dict = {"world_model": str(wm.path), "world_model_sha256": wm.sha256, "task": task,
                 "max_steps": max_steps, "initial_states": len(starts), "spread_quantile": spread_quantile,
                 "spread_limit": limit, "checkpoints": rows}
    if simulate:
        doc["kendall_tau"] = kendall_tau([r["imagined_success"] for r in rows],
                                         [r["simulated_success"] for r in rows])
        doc["imagined_seconds"] = round(sum(r["imagined_seconds"] for r in rows), 2)
        doc["simulated_seconds"] = round(sum(r["simulated_seconds"] for r in rows), 2)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "judge.json").write_text(json.dumps(doc, indent=2))
    return doc


def _simulate(ck: str, task: str | None, episodes: int, seed: int, out: str | Path | None) -> dict:
    import tempfile

    from physai.evaluate import EvalConfig, run_eval

    if not task:
        raise ConfigError("simulating needs the task (--task); the world model does not record one")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = run_eval(EvalConfig(policy=ck, out=Path(tmp), tasks=task, episodes=episodes, seed=seed,
                                  workers="0"))
    r = res["tasks"][task]
    return {"simulated_success": r["success_rate"], "simulated_ci95": r["ci95"],
            "simulated_episodes": r["episodes"], "simulated_seconds": round(time.perf_counter() - t0, 2)}
