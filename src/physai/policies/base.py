"""The Policy protocol: config, registry, normalization, chunk execution, save/load, export.

A policy is a `torch.nn.Module` built from a config dataclass and one `IOSpec` per embodiment it serves
(plus dataset stats at creation). Subclasses implement two methods on *normalized* tensors:

- `loss(nb) -> (loss, metrics)` for one prepared training batch,
- `sample(nb) -> (B, H, A)` a normalized action chunk (deterministic when `nb["deterministic"]`).

Everything else (raw -> normalized inputs, chunk queue / temporal ensembling, saving as
`config.json` + `model.safetensors`, the raw-in/raw-out export module) lives here.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from physai.core.contract import Camera, Execution, PolicyContract, has_image_labels
from physai.core.errors import ConfigError
from physai.core.execution import SyncExecution
from physai.core.registry import Registry
from physai.policies.features import StateFeatures
from physai.policies.spec import ACTION, ACTION_PAD, IMAGE_PREFIX, STATE, TACTILE, IOSpec, Normalizer

FORMAT = "physai-policy"
FORMAT_VERSION = 1

POLICIES: Registry[type[Policy]] = Registry("policy")


class CheckpointError(ConfigError):
    """A policy checkpoint that is missing, corrupt, foreign or does not match the data."""


@dataclass(frozen=True)
class PolicyConfig:
    """Options every policy has (frozen: change one with `dataclasses.replace` or `config_replace`)."""

    chunk_size: int = 16
    """Actions predicted per inference (H)."""
    n_action_steps: int = 8
    """Actions executed from each chunk before predicting the next one (execution horizon)."""
    temporal_ensemble: float | None = None
    """When set, predict every step and average overlapping chunks with weights exp(-coef*i)."""
    use_images: bool = True
    """Read camera images when the dataset has them."""
    use_tactile: bool = True
    """Read the tactile array when the dataset has it."""
    cameras: list[str] | None = None
    """Subset of cameras to read (None: every camera in the dataset)."""
    image_shift: float = 0.06
    """Training-time random-shift augmentation (DrQ): each image is edge-padded by this fraction of its
    side and randomly cropped back to size, per sample. 0 turns it off. Never applied at inference."""
    angle_features: bool = False
    """Add sin/cos of every heading in the state (quaternion yaw, '.yaw' scalars) and of twice it."""
    exclude_state: list[str] | None = None
    """Leave out state elements whose name contains one of these substrings (e.g. 'wrist.force')."""

    def validate(self) -> None:
        if self.chunk_size < 1 or not 1 <= self.n_action_steps <= self.chunk_size:
            raise ConfigError(
                f"need 1 <= n_action_steps ({self.n_action_steps}) <= chunk_size "
                f"({self.chunk_size}); lower n_action_steps or raise chunk_size"
            )


ConfigT = TypeVar("ConfigT", bound=PolicyConfig)
PolicyT = TypeVar("PolicyT", bound="type[Policy]")


def register_policy(name: str) -> Callable[[PolicyT], PolicyT]:
    """Class decorator: register a Policy subclass under `name`."""

    def deco(cls: PolicyT) -> PolicyT:
        cls.name = name
        POLICIES.register(name)(cls)
        return cls

    return deco


class Policy(nn.Module, Generic[ConfigT]):
    """Base class of every physai policy (see module docstring), generic in its config class."""

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[Any]] = PolicyConfig
    multi_embodiment: ClassVar[bool] = False
    """True when one model serves several embodiments (picks an adapter per embodiment)."""
    rtc: ClassVar[str] = "blend"
    """Real-time chunking support recorded in the contract: 'inpaint' (the sampler takes the committed
    prefix, flow/vla) or 'blend' (the executor blends over the overlap)."""
    uses_instruction: bool = False
    """Whether the policy reads the episode's instruction (a class default; act decides per config)."""

    def __init__(
        self,
        config: ConfigT,
        specs: list[IOSpec],
        stats: list[dict] | None = None,
        learned: dict | None = None,
    ) -> None:
        """`learned`: state a subclass derives while it is built (e.g. a text vocabulary read from a
        folder), saved beside the config in the checkpoint and handed back when it is loaded."""
        super().__init__()
        config.validate()
        if not specs:
            raise ConfigError("a policy needs at least one IOSpec (dataset)")
        if len(specs) > 1 and not self.multi_embodiment:
            raise ConfigError(
                f"policy {self.name!r} serves one embodiment, got {[s.embodiment for s in specs]}; "
                "train the 'vla' policy for several robots"
            )
        self.config: ConfigT = config
        self.learned: dict[str, Any] = dict(learned or {})
        self.specs = specs
        stats_: list[dict | None] = list(stats) if stats else [None] * len(specs)
        self.state_norm = nn.ModuleList(
            [Normalizer(s.state_dim, st and st.get(STATE)) for s, st in zip(specs, stats_, strict=True)]
        )
        self.state_feats = nn.ModuleList(
            [StateFeatures(s.state_names, config.angle_features, config.exclude_state) for s in specs]
        )
        self.action_norm = nn.ModuleList(
            [Normalizer(s.action_dim, st and st.get(ACTION)) for s, st in zip(specs, stats_, strict=True)]
        )
        self.tactile_norm = nn.ModuleList(
            [
                Normalizer(max(s.tactile_dim, 1), st and st.get(TACTILE))
                for s, st in zip(specs, stats_, strict=True)
            ]
        )
        self._embodiment = 0
        self._exec = SyncExecution(self._infer_one, self.execution(), config.chunk_size)

    # ------------------------------------------------------------ to implement
    def loss(self, nb: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def sample(self, nb: dict) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------ inputs
    def state_in_dim(self, e: int = 0) -> int:
        """Width of the state vector `prepare` hands the network for embodiment `e` (after features)."""
        return int(typing.cast(StateFeatures, self.state_feats[e]).out_dim)

    def action_normalizer(self, e: int = 0) -> Normalizer:
        """The action (de)normalizer of embodiment `e`."""
        return typing.cast(Normalizer, self.action_norm[e])

    @property
    def spec(self) -> IOSpec:
        """The IOSpec of the selected embodiment."""
        return self.specs[self._embodiment]

    def select_embodiment(self, embodiment: str) -> None:
        """Pick which embodiment's adapter `act` and `export_module` use."""
        names = [s.embodiment for s in self.specs]
        if embodiment not in names:
            raise ConfigError(
                f"policy {self.name!r} was not trained on robot {embodiment!r}; it knows {names}"
            )
        self._embodiment = names.index(embodiment)
        self.reset()

    def prepare(self, batch: dict, e: int = 0) -> dict:
        """Raw batch (dataset feature names) -> normalized tensors for embodiment `e`."""
        spec = self.specs[e]
        dev = typing.cast(Normalizer, self.state_norm[e]).mean.device
        state = torch.as_tensor(batch[STATE], device=dev).float()
        if state.ndim == 3:
            state = state[:, -1]
        normed = self.state_norm[e](state)
        nb: dict[str, Any] = {
            "e": e,
            "state": self.state_feats[e](state, normed),
            "state_normed": normed,  # every element, dropped ones too (training labels)
            "state_raw": state,
            "batch_size": state.shape[0],
        }
        imgs = []
        for cam in spec.cameras:
            img = torch.as_tensor(batch[IMAGE_PREFIX + cam], device=dev)
            if img.ndim == 5:
                img = img[:, -1]
            imgs.append(img.float() / 255.0 if img.dtype == torch.uint8 else img.float())
        nb["images"] = imgs
        if spec.tactile_dim:
            tac = torch.as_tensor(batch[TACTILE], device=dev).float().reshape(state.shape[0], -1)
            nb["tactile"] = self.tactile_norm[e](tac)
        if ACTION in batch:
            act = torch.as_tensor(batch[ACTION], device=dev).float()
            if act.ndim == 2:
                act = act[:, None]
            nb["action"] = self.action_norm[e](act)
            pad = batch.get(ACTION_PAD)
            nb["action_is_pad"] = (
                torch.as_tensor(pad, device=dev).bool()
                if pad is not None
                else torch.zeros(act.shape[:2], dtype=torch.bool, device=dev)
            )
        for k in ("rtc_prefix", "rtc_weights"):  # real-time chunking's committed actions (raw)
            if k in batch:
                nb[k] = torch.as_tensor(batch[k], device=dev).float()
        if "task_ids" in batch:
            nb["task_ids"] = batch["task_ids"]
        else:
            tasks = batch.get("task")
            if tasks is None or isinstance(tasks, str):
                tasks = [tasks or (spec.tasks[0] if spec.tasks else "")] * state.shape[0]
            nb["task"] = list(tasks)
        nb["deterministic"] = bool(batch.get("deterministic", False))
        return nb

    # ------------------------------------------------------------ training / inference
    def forward(self, batches: list[dict]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss over one raw batch per embodiment group (weighted by batch size)."""
        total, n = torch.zeros(()), 0
        metrics: dict[str, float] = {}
        for e, batch in enumerate(batches):
            if batch is None:
                continue
            nb = self.prepare(batch, e)
            if self.training and self.config.image_shift > 0 and nb["images"]:
                nb["images"] = [random_shift(img, self.config.image_shift) for img in nb["images"]]
            loss, m = self.loss(nb)
            total = total + loss * nb["batch_size"]
            n += nb["batch_size"]
            for k, v in m.items():
                metrics[k] = metrics.get(k, 0.0) + v * nb["batch_size"]
        return total / n, {k: v / n for k, v in metrics.items()}

    @torch.no_grad()
    def predict_chunk(self, batch: dict, embodiment: str | None = None) -> torch.Tensor:
        """Raw batch -> raw (unnormalized) action chunk (B, H, A)."""
        if embodiment is not None:
            self.select_embodiment(embodiment)
        e = self._embodiment
        nb = self.prepare({k: v for k, v in batch.items() if k not in (ACTION, ACTION_PAD)}, e)
        return self.action_normalizer(e).inverse(self.sample(nb).float())

    def reset(self) -> None:
        """Forget queued actions (call at every episode start)."""
        self._exec.reset()

    def execution(self) -> Execution:
        """How this policy's chunks are executed (from its config), as the contract records it."""
        c = self.config
        if c.temporal_ensemble is not None:
            return Execution("ensemble", horizon=1, ensemble_coef=float(c.temporal_ensemble))
        return Execution("queue", horizon=int(c.n_action_steps))

    def set_execution(self, temporal_ensemble: float | None, n_action_steps: int | None = None) -> None:
        """Change how chunks are executed (ensembling coefficient or queue length) without retraining."""
        changes: dict[str, Any] = {"temporal_ensemble": temporal_ensemble}
        if n_action_steps is not None:
            changes["n_action_steps"] = n_action_steps
        self.config = dataclasses.replace(self.config, **changes)
        self.config.validate()
        self._exec = SyncExecution(self._infer_one, self.execution(), self.config.chunk_size)

    def obs_to_batch(self, obs: dict) -> dict:
        """One env observation -> a raw batch of size 1."""
        spec = self.spec
        if "state" not in obs:
            raise ConfigError("the observation has no 'state'; make the env with obs including 'state'")
        state = np.asarray(obs["state"], np.float32)
        if state.shape != (spec.state_dim,):
            raise ConfigError(
                f"observation 'state' has shape {state.shape}, the policy expects "
                f"({spec.state_dim},) {spec.state_names[:4]}...; was the env made with the same "
                "robot and privileged setting as the training data?"
            )
        batch: dict[str, Any] = {STATE: torch.from_numpy(state)[None]}
        for cam in spec.cameras:
            key = f"images/{cam}"
            if key not in obs:
                raise ConfigError(f"observation has no {key!r}; make the env with obs=('state', 'images')")
            batch[IMAGE_PREFIX + cam] = torch.from_numpy(np.ascontiguousarray(obs[key])).permute(2, 0, 1)[
                None
            ]
        if spec.tactile_dim:
            batch[TACTILE] = torch.as_tensor(np.asarray(obs["tactile"], np.float32).reshape(1, -1))
        batch["task"] = [obs.get("instruction") or (spec.tasks[0] if spec.tasks else "")]
        return batch

    def _infer_one(self, obs: dict) -> np.ndarray:
        return self.predict_chunk(self.obs_to_batch(obs))[0].cpu().numpy()

    def act(self, obs: dict) -> np.ndarray:
        """Next action for one env observation, executing chunks as `execution()` says (the runtime runs
        the same `ChunkExecutor` on a package)."""
        return self._exec.act(obs)

    def env_kwargs(self) -> dict:
        """Keyword arguments for `physai.make` so the env yields what this policy reads."""
        return self.contract().env_kwargs()

    # ------------------------------------------------------------ description / export
    def contract(self, instruction: str | None = None) -> PolicyContract:
        """The policy contract of the selected embodiment: what `export_module(instruction)` consumes and
        produces, at which rate, for which robot, executed how."""
        s = self.spec
        if not s.control:
            raise ConfigError(
                f"policy {self.name!r} does not know the control mode of its actions (the dataset's "
                "info.json has no physai.control); record the data with `physai collect` or add "
                "info.json['physai']['control']"
            )
        text_input = self.uses_instruction and instruction is None and hasattr(self, "text_ids")
        fixed = self.uses_instruction and not text_input
        text = instruction if instruction is not None else (s.tasks[0] if s.tasks else "")
        return PolicyContract(
            embodiment=s.embodiment,
            control=s.control,
            control_hz=float(s.fps),
            state_names=tuple(s.state_names),
            action_names=tuple(s.action_names),
            chunk_size=int(self.config.chunk_size),
            execution=self.execution(),
            cameras=tuple(Camera(c, *s.image_size) for c in s.cameras) if s.image_size else (),
            tactile_dim=int(s.tactile_dim),
            instruction="input" if text_input else ("fixed" if fixed else "none"),
            instruction_text=text if fixed else None,
            tokenizer=typing.cast(Any, self).text.tokenizer() if text_input else None,
            privileged=s.privileged,
            image_labels=has_image_labels(s.state_names),
            env_task=s.env_task,
            tasks=tuple(s.tasks),
            rtc=self.rtc,
        )

    def export_module(self, instruction: str | None = None) -> nn.Module:
        """Deterministic raw-in/raw-out module with the inputs of `contract(instruction).model_inputs()`:
        (state f32 (B,D), image uint8 (B,H,W,3) per camera, tactile f32 (B,K) if any, instruction token
        ids int64 (B,T) for an instruction-conditioned policy) -> action chunk f32 (B,H,A).
        A given `instruction` is fixed inside the graph instead of being an input.
        """
        return _ExportModule(self, self._embodiment, instruction)

    # ------------------------------------------------------------ save / load
    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """Write `config.json` + `model.safetensors` into the folder `path`."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "policy": self.name,
            "config": dataclasses.asdict(self.config),
            "learned": self.learned,
            "specs": [s.to_dict() for s in self.specs],
            "extra": extra or {},
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(path / "model.safetensors"), metadata={"format": FORMAT, "policy": self.name})
        (path / "config.json").write_text(json.dumps(doc, indent=2))
        return path


class _ExportModule(nn.Module):
    task_ids: torch.Tensor

    def __init__(self, policy: Policy, e: int, instruction: str | None) -> None:
        super().__init__()
        self.policy, self.e = policy, e
        contract = policy.contract(instruction)
        self.cameras = list(contract.camera_names)
        self.tactile = contract.tactile_dim > 0
        self.text_input = contract.instruction == "input"
        self.rtc = contract.rtc == "inpaint"
        text = contract.instruction_text or ""
        text_ids = getattr(policy, "text_ids", None)
        ids = text_ids([text]) if text_ids is not None else torch.zeros(1, 1, dtype=torch.long)
        self.register_buffer("task_ids", ids)

    def forward(self, state: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        batch: dict[str, Any] = {STATE: state, "deterministic": True}
        for cam, img in zip(self.cameras, rest, strict=False):
            batch[IMAGE_PREFIX + cam] = img.permute(0, 3, 1, 2).float() / 255.0
        k = len(self.cameras)
        if self.tactile:
            batch[TACTILE] = rest[k]
            k += 1
        batch["task_ids"] = rest[k] if self.text_input else self.task_ids.expand(state.shape[0], -1)
        k += self.text_input
        rtc = self.rtc and len(rest) > k + 1  # called without them (eager checks): no committed prefix
        if rtc:  # real-time chunking: the committed prefix and its weights (zeros: none)
            batch["rtc_prefix"], batch["rtc_weights"] = rest[k], rest[k + 1]
        nb = self.policy.prepare(batch, self.e)
        out = self.policy.action_normalizer(self.e).inverse(self.policy.sample(nb))
        if rtc:  # the frozen prefix (weight 1) is the committed actions exactly
            out = torch.where(rest[k + 1][..., None] >= 1.0, rest[k], out)
        return out


def random_shift(img: torch.Tensor, frac: float) -> torch.Tensor:
    """(B, C, H, W) images, each shifted by a random whole number of pixels in [-p, p] on both axes
    (p = round(frac * side), at least 1) with the border pixels repeated; same size out."""
    b, _, h, w = img.shape
    ph, pw = max(1, round(frac * h)), max(1, round(frac * w))
    padded = nn.functional.pad(img, (pw, pw, ph, ph), mode="replicate")
    dy = torch.randint(0, 2 * ph + 1, (b,), device=img.device)
    dx = torch.randint(0, 2 * pw + 1, (b,), device=img.device)
    rows = (dy[:, None] + torch.arange(h, device=img.device)[None])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=img.device)[None])  # (B, W)
    bi = torch.arange(b, device=img.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def make_policy(
    name: str,
    specs: list[IOSpec],
    stats: list[dict] | None = None,
    config: PolicyConfig | None = None,
    learned: dict | None = None,
    **overrides: Any,
) -> Policy:
    """Build the policy registered as `name` for these specs; `overrides` set config fields."""
    cls = POLICIES.get(name)
    cfg = config or cls.config_cls()
    if overrides:
        cfg = config_replace(cfg, overrides)
    return cls(cfg, specs, stats, learned)


def config_replace(cfg: ConfigT, overrides: dict) -> ConfigT:
    """`cfg` with fields replaced; unknown field names raise ConfigError listing the valid ones."""
    names = {f.name for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ConfigError(f"unknown {type(cfg).__name__} fields {bad}; valid: {sorted(names)}")
    try:
        hints = typing.get_type_hints(type(cfg))
    except Exception:
        hints = {}
    values = {}
    for key, value in overrides.items():
        hint = hints.get(key)
        ok, value = (True, value) if hint is None else _coerce(value, hint)
        if not ok:
            raise ConfigError(
                f"{type(cfg).__name__}.{key} must be {_type_name(hint)}, got {value!r}; "
                f"e.g. {key}={json.dumps(getattr(cfg, key))}"
            )
        values[key] = value
    return dataclasses.replace(cfg, **values)


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "") if not isinstance(hint, type) else hint.__name__


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    """(does `value` fit the annotation `hint`, the value converted: int -> float, list -> tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            ok, v = _coerce(value, arm)
            if ok:
                return True, v
        return False, value
    if hint is type(None):
        return value is None, value
    if origin is typing.Literal:
        return value in args, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        arm = args[0] if args else Any
        items = [_coerce(v, arm) for v in value]
        if not all(ok for ok, _ in items):
            return False, value
        return True, (tuple if (origin or hint) is tuple else list)(v for _, v in items)
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    return True, value  # other annotations are not checked
