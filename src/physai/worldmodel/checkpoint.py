"""World-model checkpoints: `config.json` (format, config, what the model was trained on, its measured
open-loop error) + `model.safetensors` (weights and normalisation), never pickle.

A run folder from `physai wm train` *is* the checkpoint (config.json, model.safetensors, metrics.json).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from physai.core.errors import ConfigError
from physai.worldmodel.data import Episodes
from physai.worldmodel.model import WorldModel, WorldModelConfig

FORMAT = "physai-worldmodel"
FORMAT_VERSION = 1


class WorldModelCheckpointError(ConfigError):
    """A world-model checkpoint that is missing, corrupt or foreign."""


@dataclasses.dataclass
class LoadedWorldModel:
    """A world model and what it was trained on."""

    model: WorldModel
    doc: dict
    path: Path

    @property
    def state_names(self) -> list[str]:
        return list(self.doc["state_names"])

    @property
    def action_names(self) -> list[str]:
        return list(self.doc["action_names"])

    @property
    def embodiment(self) -> str:
        return str(self.doc["embodiment"])

    @property
    def horizon(self) -> int:
        return int(self.doc["config"]["horizon"])

    @property
    def sha256(self) -> str:
        return str(self.doc.get("sha256", ""))


def save_world_model(out: Path, model: WorldModel, eps: Episodes, summary: dict) -> Path:
    """Write `out/config.json` + `out/model.safetensors` (+ metrics.json with the loss history)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(out / "model.safetensors"))
    weights_sha = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(model.cfg),
        "state_names": eps.state_names,
        "action_names": eps.action_names,
        "embodiment": eps.embodiment,
        "fps": eps.fps,
        "control_mode": eps.control_mode,
        "task": eps.task,
        "datasets": eps.sources,
        "sha256": weights_sha,
        "train": {k: v for k, v in summary.items() if k != "history"},
    }
    (out / "config.json").write_text(json.dumps(doc, indent=2))
    (out / "metrics.json").write_text(json.dumps(summary.get("history", []), indent=1))
    return out


def load_world_model(path: str | Path) -> LoadedWorldModel:
    """Load a world model folder (eval mode); refuses corrupt or foreign files with the fix."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    for name in ("config.json", "model.safetensors"):
        if not (p / name).is_file():
            raise WorldModelCheckpointError(
                f"{p} is not a world model: {name} is missing (expected the folder written by "
                "`physai wm train --out`)")
    try:
        doc = json.loads((p / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorldModelCheckpointError(f"{p / 'config.json'} is not valid JSON ({exc}); retrain") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise WorldModelCheckpointError(
            f"{p / 'config.json'} is not a world model config (format="
            f"{doc.get('format') if isinstance(doc, dict) else None!r}, expected {FORMAT!r}); a policy "
            "checkpoint goes to --policies, a world model to --model")
    if doc.get("format_version") != FORMAT_VERSION:
        raise WorldModelCheckpointError(f"{p / 'config.json'}: format_version {doc.get('format_version')!r}, "
                                        f"this physai reads {FORMAT_VERSION}")
    try:
        cfg = WorldModelConfig(**doc["config"])
        model = WorldModel(cfg, len(doc["state_names"]), len(doc["action_names"]))
    except (KeyError, TypeError) as exc:
        raise WorldModelCheckpointError(f"{p / 'config.json'} is malformed ({exc!r})") from None
    try:
        tensors = load_file(str(p / "model.safetensors"))
        model.load_state_dict(tensors, strict=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise WorldModelCheckpointError(
            f"{p / 'model.safetensors'} does not load into the model config.json describes ({exc}); "
            "the checkpoint is corrupt, retrain it") from None
    return LoadedWorldModel(model.eval(), doc, p)


def check_compatible(wm: LoadedWorldModel, state_names: list[str], action_names: list[str],
                     embodiment: str | None, what: str) -> None:
    """ConfigError naming `what` when its robot or state/action layout differs from the model's."""
    if embodiment and embodiment != wm.embodiment:
        raise ConfigError(f"{what} is for robot {embodiment!r}, the world model {wm.path} for "
                          f"{wm.embodiment!r}; train a world model on that robot's data")
    for kind, mine, theirs in (("state", wm.state_names, state_names), ("action", wm.action_names,
                                                                         action_names)):
        if list(theirs) != mine:
            diff = sorted(set(theirs) ^ set(mine))[:6]
            raise ConfigError(
                f"{what} has other {kind} names than the world model {wm.path} ({len(theirs)} vs "
                f"{len(mine)}; differing: {diff or 'same names, other order'}); use data/checkpoints "
                "recorded with the same robot, task and observation layout")
