"""`load_policy`: read `config.json` + `model.safetensors` safely (no pickle, no code execution)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from physai.policies.base import FORMAT, FORMAT_VERSION, POLICIES, CheckpointError, Policy, PolicyConfig
from physai.policies.spec import IOSpec


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder holding `checkpoint/`."""
    p = Path(path)
    if (p / "checkpoint" / "config.json").exists() and not (p / "config.json").exists():
        return p / "checkpoint"
    return p


def read_checkpoint_config(path: str | Path) -> dict:
    """The parsed, validated `config.json` of a checkpoint folder."""
    p = resolve_checkpoint(path)
    if not p.is_dir():
        raise CheckpointError(
            f"{p} is not a folder; a policy checkpoint is a folder with config.json and "
            "model.safetensors (e.g. runs/X/checkpoint written by `physai train`)"
        )
    for name in ("config.json", "model.safetensors"):
        if not (p / name).is_file():
            raise CheckpointError(
                f"{p} is not a physai policy checkpoint: {name} is missing "
                "(expected config.json + model.safetensors written by `physai train`)"
            )
    try:
        doc = json.loads((p / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{p / 'config.json'} is not valid JSON ({exc}); the checkpoint is corrupt, re-save or retrain it"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(
            f"{p / 'config.json'} is not a physai policy config (format="
            f"{doc.get('format') if isinstance(doc, dict) else None!r}, expected {FORMAT!r})"
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{p / 'config.json'} has format_version {doc.get('format_version')!r}; this "
            f"physai reads version {FORMAT_VERSION}"
        )
    return doc


# The one place that knows older checkpoints. Fields newer than a checkpoint take the value that
# reproduces the old model; removed options load when they hold the value the code still implements
# (the others need the physai that wrote them); learned state once stored in the config moves to
# the checkpoint's "learned" section.
LEGACY_DEFAULTS: dict[str, object] = {
    "angle_features": False,
    "exclude_state": None,
    "image_features": "grid",
    "image_shift": 0.0,
    "state_skip": False,
}
REMOVED_OPTIONS: dict[str, object] = {
    "query_point_noise": 0.0,
    "aux_keypoint_target": "bilinear",
    "kl_weight": 10.0,  # act: set nowhere, now the constant act.KL_WEIGHT
    "aux_weight": 1.0,
    "aux_keypoint_weight": 1.0,
}
MOVED_TO_LEARNED = ("text_vocab", "text_dim")


def checkpoint_policy(
    doc: dict, where: str | Path = "config.json"
) -> tuple[type[Policy], PolicyConfig, list[IOSpec], dict]:
    """(policy class, config, specs, learned state) of a checkpoint document read by
    `read_checkpoint_config`, older layouts translated through the legacy table above. The only
    reader of a checkpoint's config: `load_policy` and `physai train --resume` both use it."""
    cls = POLICIES.get(str(doc.get("policy")))
    try:
        names = {f.name for f in dataclasses.fields(cls.config_cls)}
        cfg_doc = dict(doc["config"])
        learned = dict(doc.get("learned") or {})
        for key in MOVED_TO_LEARNED:
            if key in cfg_doc and key not in names:
                value = cfg_doc.pop(key)
                if value:
                    learned.setdefault(key, value)
        for key, kept in REMOVED_OPTIONS.items():
            if key in cfg_doc and key not in names:
                value = cfg_doc.pop(key)
                if value != kept:
                    raise CheckpointError(
                        f"{where}: {cls.name} option {key}={value!r} was removed (only {kept!r} is "
                        "implemented); load this checkpoint with the physai version that wrote it"
                    )
        for key, old in LEGACY_DEFAULTS.items():
            if key in names:
                cfg_doc.setdefault(key, old)
        unknown = sorted(set(cfg_doc) - names)
        if unknown:
            raise CheckpointError(f"{where}: unknown {cls.name} config fields {unknown}")
        cfg = cls.config_cls(**cfg_doc)
        specs = [IOSpec.from_dict(s) for s in doc["specs"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} is malformed ({exc!r}); the checkpoint is corrupt") from None
    return cls, cfg, specs, learned


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> Policy:
    """Load a saved policy (checkpoint or run folder) in eval mode; refuses corrupt or foreign files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = resolve_checkpoint(path)
    cls, cfg, specs, learned = checkpoint_policy(read_checkpoint_config(p), p / "config.json")
    policy = cls(cfg, specs, None, learned)
    try:
        tensors = load_file(str(p / "model.safetensors"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{p / 'model.safetensors'} cannot be read ({exc}); the checkpoint is corrupt or "
            "truncated, use an earlier one under checkpoints/"
        ) from None
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{p / 'model.safetensors'} does not match a {cls.name} policy with this config: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{p / 'model.safetensors'}: tensor {k} has shape {tuple(tensors[k].shape)}, "
                f"the config implies {tuple(v.shape)}"
            )
        if tensors[k].is_floating_point() and not torch.isfinite(tensors[k]).all():
            raise CheckpointError(f"{p / 'model.safetensors'}: tensor {k} contains NaN/inf")
    policy.load_state_dict(tensors, strict=True)
    return policy.to(device).eval()
