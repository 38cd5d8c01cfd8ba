"""MPPI planning over a world model, usable as a policy (`physai eval --policy wm-plan:RUN`).

Every control step the planner samples N action sequences of length H around its current plan, imagines
each with every ensemble member, scores them and re-fits the plan to the exponentially weighted best
(`iterations` times); it executes the first action and shifts the plan by one step.

Half of the samples (`prior`) are drawn around the plan of the model's behaviour prior (a policy head
fitted to the successful recorded episodes, rolled through the model), as in TD-MPC.
Score of a sequence (averaged over members) = sum_k discount^k p_success(s_k) + discount^H V(s_H)
- `uncertainty` x member disagreement, all learned from the recorded data; with `task_cost` set the
task's known goal structure (a cost over named state entries, registered per task in TASK_COSTS) is
subtracted too. Which terms were used is part of the policy's identity in eval results.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from physai.core.errors import ConfigError
from physai.core.registry import Registry
from physai.worldmodel.checkpoint import LoadedWorldModel

PREFIX = "wm-plan:"

TaskCost = Callable[[torch.Tensor, dict[str, int]], torch.Tensor]
TASK_COSTS: Registry[TaskCost] = Registry("world-model task cost")
"""Known goal structure per task: f(states (..., S) raw, name->index) -> cost (...) (lower is better)."""


@TASK_COSTS.register("tabletop/push")
def _push_cost(s: torch.Tensor, ix: dict[str, int]) -> torch.Tensor:
    """Object-to-zone distance, plus the TCP's distance to the pushing point behind the object."""
    obj = s[..., [ix["object.pos.x"], ix["object.pos.y"]]]
    zone = s[..., [ix["zone.pos.x"], ix["zone.pos.y"]]]
    tcp = s[..., [ix["ee.pos.x"], ix["ee.pos.y"]]]
    d = zone - obj
    dist = d.norm(dim=-1, keepdim=True)
    behind = obj - d / dist.clamp_min(1e-6) * 0.05
    tcp_z = s[..., ix["ee.pos.z"]]
    obj_z = s[..., ix["object.pos.z"]]
    return 10 * dist[..., 0] + 3 * (tcp - behind).norm(dim=-1) + 3 * (tcp_z - obj_z).abs()


@dataclass(frozen=True)
class PlannerConfig:
    """MPPI settings."""

    horizon: int | None = None
    """Planning horizon in steps (None: the model's trained horizon)."""
    samples: int = 128
    """Action sequences imagined per iteration."""
    iterations: int = 3
    """MPPI refits per control step."""
    temperature: float = 0.05
    """Softmax temperature over sequence scores (smaller: greedier)."""
    noise: float = 0.3
    """Initial sampling std as a fraction of each action's range."""
    discount: float = 0.97
    """Discount of per-step terms."""
    uncertainty: float = 0.5
    """Penalty per unit of ensemble disagreement (normalised state std averaged over dims and steps)."""
    task_cost: bool = False
    """Also subtract the task's registered goal-structure cost (TASK_COSTS) from the score."""
    prior: float = 0.5
    """Fraction of samples drawn around the model's behaviour prior's plan (the rest around the current
    plan); 0 plans from the learned scores alone."""
    seed: int = 0
    """Seed of the sampling generator (reseeded per episode by the evaluator)."""


def measured_error(wm: LoadedWorldModel, horizon: int) -> float | None:
    """Held-out open-loop RMSE (normalised units) at `horizon`, or at the longest measured one."""
    err = (wm.doc.get("train") or {}).get("open_loop_rmse", {}).get("all")
    if not err:
        return None
    return float(err[min(horizon, len(err)) - 1])


class WorldModelPlanner:
    """`reset()` / `act(obs)` policy planning with MPPI in a world model; `step_ms` holds each act's cost."""

    def __init__(self, wm: LoadedWorldModel, low: Any, high: Any,
                 cfg: PlannerConfig | None = None, task: str | None = None) -> None:
        self.wm, self.cfg = wm, cfg or PlannerConfig()
        self.horizon = self.cfg.horizon or wm.horizon
        if self.horizon < 1:
            raise ConfigError(f"planner horizon must be >= 1, got {self.horizon}")
        if self.horizon > wm.horizon:
            err = measured_error(wm, wm.horizon)
            warnings.warn(
                f"planning {self.horizon} steps ahead with a world model trained for {wm.horizon} "
                f"(held-out open-loop RMSE at {wm.horizon} steps: {err if err is None else round(err, 3)} "
                "normalised units, larger beyond); retrain with --horizon "
                f"{self.horizon} or plan shorter", RuntimeWarning, stacklevel=2)
        self.low = torch.as_tensor(low, dtype=torch.float32)
        self.high = torch.as_tensor(high, dtype=torch.float32)
        self.cost: TaskCost | None = None
        if self.cfg.task_cost:
            task = task or wm.doc.get("task")
            if not task or task not in TASK_COSTS.names():
                raise ConfigError(f"no goal-structure cost is registered for task {task!r} (have "
                                  f"{TASK_COSTS.names()}); plan with the learned terms only (task_cost off)")
            self.cost = TASK_COSTS.get(task)
        self.index = {n: i for i, n in enumerate(wm.state_names)}
        self.gen = torch.Generator().manual_seed(self.cfg.seed)
        self.step_ms: list[float] = []
        self.reset()

    def seed(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(int(seed))

    def reset(self) -> None:
        self.mean = ((self.low + self.high) / 2).expand(self.horizon, -1).clone()

    @torch.no_grad()
    def score(self, s0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Scores (N,) of action sequences (N, H, A) from one raw state s0 (S,)."""
        c, m = self.cfg, self.wm.model
        out = m.rollout(s0.expand(actions.shape[0], -1), actions)
        h = actions.shape[1]
        disc = c.discount ** torch.arange(h, dtype=torch.float32)
        succ = (out["success"] * disc).sum(-1)  # (E, N)
        score = succ + c.discount ** h * out["value"][..., -1]
        spread = (m.norm_state(out["states"][:, :, 1:]).std(0)).mean(dim=(-1, -2))  # (N,)
        total = score.mean(0) - c.uncertainty * spread
        if self.cost is not None:
            cost = self.cost(out["states"][:, :, 1:], self.index)  # (E, N, H)
            total = total - (cost * disc).mean(0).sum(-1) / h
        return total

    @torch.no_grad()
    def act(self, obs: dict) -> np.ndarray:
        t0 = time.perf_counter()
        c = self.cfg
        s0 = torch.as_tensor(np.asarray(obs["state"], np.float32))
        span = self.high - self.low
        std = torch.full_like(self.mean, c.noise) * span
        mean = self.mean
        n_prior = int(round(c.prior * c.samples))
        prior = self.prior_plan(s0) if n_prior else None
        for _ in range(c.iterations):
            eps = torch.randn(c.samples, *mean.shape, generator=self.gen)
            centre = mean.expand(c.samples, -1, -1).clone()
            if prior is not None:
                centre[c.samples - n_prior:] = prior
            acts = torch.clamp(centre + eps * std, self.low, self.high)
            acts[0] = mean  # keep the current plan in the pool
            if prior is not None:
                acts[c.samples - n_prior] = prior
            scores = self.score(s0, acts)
            w = torch.softmax((scores - scores.max()) / c.temperature, 0)
            mean = (w[:, None, None] * acts).sum(0)
            std = torch.sqrt((w[:, None, None] * (acts - mean) ** 2).sum(0))
            std = std.clamp_min(0.02 * float(span.max()))
            std = torch.minimum(std, c.noise * span)
        action = mean[0].clone()
        self.mean = torch.cat([mean[1:], mean[-1:]], 0)
        self.step_ms.append((time.perf_counter() - t0) * 1e3)
        return action.numpy().astype(np.float32)

    @torch.no_grad()
    def prior_plan(self, s0: torch.Tensor) -> torch.Tensor:
        """(H, A) raw actions of the behaviour prior rolled through the ensemble-mean model from s0."""
        m = self.wm.model
        s_n = m.norm_state(s0)[None, None].expand(m.cfg.ensemble, 1, -1)
        out = []
        for _ in range(self.horizon):
            a_n = m.prior_action_n(s_n.mean(0))  # (1, A)
            a = torch.clamp(a_n * m.action_std + m.action_mean, self.low, self.high)
            out.append(a[0])
            s_n = m.step_n(s_n, m.norm_action(a).expand(m.cfg.ensemble, -1, -1))[0].mean(0, keepdim=True)
            s_n = s_n.expand(m.cfg.ensemble, -1, -1)
        return torch.stack(out)

    def describe(self) -> dict:
        return {"world_model": str(self.wm.path), "world_model_sha256": self.wm.sha256,
                "planner": {**asdict(self.cfg), "horizon": self.horizon}}


# ---------------------------------------------------------------------------- policy-source kind
_FLOATS = ("temperature", "noise", "discount", "uncertainty", "prior")


def parse_spec(spec: str) -> tuple[str, dict]:
    """`wm-plan:RUN[?key=value&...]` -> (RUN, PlannerConfig overrides)."""
    body = spec[len(PREFIX):]
    path, _, query = body.partition("?")
    fields = {f.name: f.type for f in PlannerConfig.__dataclass_fields__.values()}
    opts: dict = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key not in fields:
            raise ConfigError(f"policy {spec!r}: unknown planner option {key!r}; options: {sorted(fields)}")
        opts[key] = (value.lower() in ("1", "true", "yes")) if key == "task_cost" else (
            float(value) if key in _FLOATS else int(value))
    if not path:
        raise ConfigError(f"policy {spec!r}: give the world model folder, e.g. wm-plan:runs/wm")
    return path, opts


def resolve_source(spec: str, tasks: list[str], max_steps: int | None = None) -> tuple[dict, dict]:
    """Check the model against every task's env; returns (env_kwargs, identity) for the PolicySource."""
    from physai.envs import PhysaiEnv
    from physai.worldmodel.checkpoint import check_compatible, load_world_model

    path, opts = parse_spec(spec)
    wm = load_world_model(path)
    env_kwargs: dict[str, Any] = {"obs": ("state",), "privileged": True}
    if wm.doc.get("control_mode"):
        env_kwargs["control"] = wm.doc["control_mode"]
    for task in tasks:
        env = PhysaiEnv(task, max_steps=max_steps, **env_kwargs)
        try:
            check_compatible(wm, env.state_names, list(env.action_spec.names), env.robot.name,
                             f"task {task}")
            if abs(env.metadata["render_fps"] - float(wm.doc["fps"])) > 1e-6:
                raise ConfigError(f"task {task} runs at {env.metadata['render_fps']} Hz, the world model "
                                  f"{path} was trained at {wm.doc['fps']} Hz")
            WorldModelPlanner(wm, env.action_spec.low, env.action_spec.high, PlannerConfig(**opts), task)
        finally:
            env.close()
    identity = {"path": path, "world_model_sha256": wm.sha256, "planner": opts}
    return env_kwargs, identity


def build(spec: str, env) -> WorldModelPlanner:
    """The planner for `env` inside an evaluation worker."""
    from physai.worldmodel.checkpoint import load_world_model

    path, opts = parse_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # warned once when the source was resolved
        return WorldModelPlanner(load_world_model(path), env.action_spec.low, env.action_spec.high,
                                 PlannerConfig(**opts), env.task.name)
