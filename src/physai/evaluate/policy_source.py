"""Which policy an evaluation runs: resolved and checked once in the main process, built in each worker.

`--policy` forms:

- `expert` — each task's scripted expert (physai tasks only);
- `random` — uniform actions in the action bounds, seeded by the episode seed;
- `ws://HOST:PORT` / `wss://...` — a remote policy speaking the openpi websocket protocol;
- `py:module:function` — `function(env) -> policy` imported in every worker (custom policies);
- a package folder (`physai export` output, with `MANIFEST.json`) — verified with the trusted keys and
  run through the runtime's executor (`ChunkExecutor` under the package's contract), so the same seeds
  can be run on a checkpoint and on the package made from it;
- a registered prefix kind (`PREFIX_KINDS`, e.g. `wm-plan:RUN` — MPPI planning in a world model): its module
  resolves and builds it;
- anything else — a trained checkpoint folder, loaded with `physai.policies.load_policy(path)`.

Checkpoints and packages carry a policy contract: the env is made from it (`contract.env_kwargs()`:
control mode, rate, cameras, image size, instruction) and checked against it before any worker starts.

`resolve_policy` runs before any worker starts: it reaches the remote server, loads the checkpoint and
checks both against the env of every task, so bad input fails fast. The resulting `PolicySource` is
plain data (picklable); `build_policy` turns it into a live policy inside a worker.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physai.core.errors import ConfigError
from physai.core.jsonsafe import json_safe
from physai.evaluate.compat import (
    Requirements,
    check_env,
    check_env_contract,
    requirements_from_contract,
    requirements_from_spec,
)
from physai.evaluate.gym_env import PREFIX as GYM_PREFIX


@dataclass(frozen=True)
class PolicySource:
    """A resolved `--policy` value: what to build in each worker and how to describe it in results."""

    spec: str
    """The `--policy` string as given."""
    kind: str
    """expert | random | remote | python | checkpoint."""
    env_kwargs: dict = field(default_factory=dict)
    """Keyword arguments for the physai env (control mode, observation keys...)."""
    identity: dict = field(default_factory=dict)
    """JSON-ready description for results.json (path and hashes, server metadata...)."""
    api_key: str | None = field(default=None, repr=False)
    """Token for a remote server (never written to results)."""
    trusted_keys: tuple[str, ...] = ()
    """Public key files a package must be signed with (plus $PHYSAI_TRUSTED_KEYS)."""
    allow_unsigned: bool = False
    """Load an unsigned package (its hashes are still checked)."""


def _prefix_kinds() -> dict[str, str]:
    """`--policy` prefixes -> module with `resolve_source(spec, tasks, max_steps) -> (env_kwargs, identity)`
    (checks the policy against every task's env) and `build(spec, env) -> policy` (in each worker), from
    the `physai.policy_sources` entry points (e.g. `wm-plan` -> `physai.worldmodel.planner`), so the
    harness never imports the packages above it."""
    from importlib.metadata import entry_points

    return {f"{ep.name}:": ep.value for ep in entry_points(group="physai.policy_sources")}


PREFIX_KINDS: dict[str, str] = _prefix_kinds()


def policy_kind(spec: str) -> str:
    if spec in ("expert", "random"):
        return spec
    for prefix in PREFIX_KINDS:
        if spec.startswith(prefix):
            return prefix[:-1]
    if spec.startswith(("ws://", "wss://")):
        return "remote"
    if spec.startswith("py:"):
        return "python"
    if (Path(spec) / "MANIFEST.json").is_file():
        return "package"
    return "checkpoint"


def _json_safe(x: Any) -> Any:
    """Server metadata (untrusted, any size) as bounded JSON (`physai.core.jsonsafe.json_safe`)."""
    return json_safe(x, limit=64)


def _hash_checkpoint(path: Path) -> dict:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out = {}
    for f in files[:32]:
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[str(f.relative_to(path) if f != path else f.name)] = h.hexdigest()
    return out


def _load_checkpoint(spec: str):
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"policy {spec!r} is not 'expert', 'random', a ws:// address, 'py:module:fn' "
                          "or an existing checkpoint folder")
    try:
        from physai.policies import load_policy
    except ImportError as exc:
        raise ConfigError(f"cannot load checkpoint {spec}: physai.policies.load_policy is not available "
                          f"in this installation ({exc})") from None
    return load_policy(path)


def _import_factory(spec: str):
    target = spec.removeprefix("py:")
    mod_name, _, fn_name = target.rpartition(":")
    if not mod_name or not fn_name:
        raise ConfigError(f"policy {spec!r} must be 'py:module:function'")
    try:
        return getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import policy factory {target!r}: {exc}") from None


def _load_package(source: PolicySource):
    from physai.deploy import signing
    from physai.deploy.package import load_package

    keys = signing.trusted_keys([Path(k) for k in source.trusted_keys])  # plus $PHYSAI_TRUSTED_KEYS
    return load_package(Path(source.spec), keys, allow_unsigned=source.allow_unsigned)


class PackagePolicy:
    """`reset()`/`act(obs)` over a verified package: its chunks executed by the runtime's executor."""

    def __init__(self, pkg: Any) -> None:
        from physai.core.execution import SyncExecution

        c = pkg.contract
        self.package = pkg
        self._exec = SyncExecution(pkg.infer, c.execution, c.chunk_size)

    def reset(self) -> None:
        self._exec.reset()

    def act(self, obs: dict) -> np.ndarray:
        return self._exec.act(obs)


def resolve_policy(spec: str, tasks: list[str], overrides: dict | None = None,
                   api_key: str | None = None, max_steps: int | None = None,
                   trusted_keys: tuple[str, ...] = (), allow_unsigned: bool = False) -> PolicySource:
    """Check `spec` against every task before any worker starts; raises ConfigError / RemotePolicyError."""
    kind = policy_kind(spec)
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    if f"{kind}:" in PREFIX_KINDS:
        env_kwargs, ident = importlib.import_module(PREFIX_KINDS[f"{kind}:"]).resolve_source(
            spec, tasks, max_steps)
        return PolicySource(spec=spec, kind=kind, env_kwargs={**env_kwargs, **overrides},
                            identity={"kind": kind, "spec": spec, **ident})
    gym_tasks = [t for t in tasks if t.startswith(GYM_PREFIX)]
    if kind == "expert" and gym_tasks:
        raise ConfigError(f"external env {gym_tasks[0]} has no scripted expert; use random, a checkpoint "
                          "or a remote policy")
    req, identity = Requirements(), {"kind": kind, "spec": spec}
    contract = None
    if kind == "remote":
        from physai.evaluate.remote import connect

        conn, meta = connect(spec, api_key)
        conn.close()
        req = requirements_from_spec(meta)
        identity["server_metadata"] = _json_safe(meta)
    elif kind == "checkpoint":
        policy = _load_checkpoint(spec)
        if callable(getattr(policy, "contract", None)):  # physai policies state their contract
            contract = policy.contract()
        else:
            req = requirements_from_spec(policy.io_spec() if hasattr(policy, "io_spec") else None)
        identity.update(path=str(Path(spec).resolve()), sha256=_hash_checkpoint(Path(spec)),
                        cls=type(policy).__qualname__)
    elif kind == "package":
        probe = PolicySource(spec=spec, kind=kind, trusted_keys=tuple(map(str, trusted_keys)),
                             allow_unsigned=allow_unsigned)
        pkg = _load_package(probe)
        contract = pkg.contract
        identity.update(path=str(Path(spec).resolve()), signed_by=pkg.signed_by,
                        manifest_sha256=hashlib.sha256((Path(spec) / "MANIFEST.json").read_bytes())
                        .hexdigest())
    elif kind == "python":
        _import_factory(spec)
    if contract is not None:
        identity["contract"] = contract.to_dict()
        env_kwargs = {**contract.env_kwargs(), **overrides}
    else:
        env_kwargs = {**req.env_kwargs(), **overrides}
    source = PolicySource(spec=spec, kind=kind, env_kwargs=env_kwargs, identity=identity, api_key=api_key,
                          trusted_keys=tuple(map(str, trusted_keys)), allow_unsigned=allow_unsigned)
    who = f"policy {spec}"
    robot = contract.embodiment if contract is not None else req.embodiment
    for task in tasks:
        if task.startswith(GYM_PREFIX):
            continue
        if robot:  # before the env is made in the policy's control mode, which the other robot may lack
            from physai.core.errors import RobotMismatchError
            from physai.tasks import TASKS

            task_robot = TASKS.get(task).embodiment_name
            if task_robot != robot:
                raise RobotMismatchError(who, robot, f"task {task}", task_robot,
                                         f"evaluate it on tasks of robot {robot} (see `physai tasks`)")
        env = make_env(task, source, max_steps=max_steps)
        try:
            if contract is not None and not overrides:
                check_env_contract(contract, env, who)
            else:
                check_env(req if contract is None else requirements_from_contract(contract), env, who)
            if kind == "expert":
                env.expert()
        finally:
            env.close()
    return source


def make_env(task: str, source: PolicySource, max_steps: int | None = None,
             video_size: tuple[int, int] | None = None):
    """The env of `task` as `source` expects it (a PhysaiEnv, or a GymTaskEnv for `gym:<id>`)."""
    if task.startswith(GYM_PREFIX):
        from physai.evaluate.gym_env import GymTaskEnv

        return GymTaskEnv(task[len(GYM_PREFIX):], max_steps=max_steps, render=video_size is not None)
    from physai.envs import PhysaiEnv
    from physai.sim.render import RenderConfig

    kw = dict(source.env_kwargs)
    if video_size is not None:
        kw["render_config"] = RenderConfig(width=video_size[1], height=video_size[0])
    return PhysaiEnv(task, max_steps=max_steps, **kw)


class SeededRandomPolicy:
    """Uniform random actions, reseeded from the episode seed at every episode (worker-count independent)."""

    def __init__(self, env: Any) -> None:
        self.low, self.high = env.action_spec.low, env.action_spec.high
        self.rng = np.random.default_rng(0)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


def build_policy(source: PolicySource, env: Any):
    """A live policy for `env` (called inside a worker, once per task)."""
    if source.kind == "expert":
        return env.expert()
    if source.kind == "random":
        return SeededRandomPolicy(env)
    if source.kind == "remote":
        from physai.evaluate.remote import RemotePolicy

        return RemotePolicy(source.spec, action_dim=int(env.action_spec.shape[0]), api_key=source.api_key)
    if source.kind == "python":
        return _import_factory(source.spec)(env)
    if source.kind == "package":
        return PackagePolicy(_load_package(source))
    if f"{source.kind}:" in PREFIX_KINDS:
        return importlib.import_module(PREFIX_KINDS[f"{source.kind}:"]).build(source.spec, env)
    return _load_checkpoint(source.spec)
