"""`physai train`: train a policy on one or more LeRobot datasets into a run folder.

The training options are generated from `TrainConfig` (names, types, help: its field docstrings); a
preset (`physai.train.presets`) supplies the values the user does not type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from physai.cli.options import config_options
from physai.cli.ui import RichProgress, console, handle_errors, out, print_json
from physai.train.config import TrainConfig
from physai.train.presets import PRESETS

# TrainConfig fields offered as options, and the flags that differ from --field-name
_FIELDS = ("steps", "batch_size", "lr", "weight_decay", "warmup_steps", "min_lr_ratio", "grad_clip",
           "ema_decay", "seed", "save_every", "log_every", "eval_every", "eval_at_end", "eval_episodes",
           "eval_task", "eval_seed", "device", "bf16", "num_threads", "max_minutes")
_FLAGS = {"num_threads": "--threads", "max_minutes": "--minutes"}
_MIN = {"steps": 1, "batch_size": 1, "save_every": 0, "log_every": 1, "eval_every": 0, "eval_episodes": 1}


def _preset_help() -> str:
    lines = [f"{p}: {PRESETS.get(p).summary}" for p in PRESETS.names()]
    return "Named recipe (policy, config, steps); default: the preset named like --policy.\n\n" + "\n\n".join(
        lines)


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def _overrides(items: list[str] | None) -> dict:
    from physai.core.errors import ConfigError

    res = {}
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--set expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        try:
            res[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            res[k.strip()] = v
    return res


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def _checked(cfg: TrainConfig) -> TrainConfig:
    """`cfg.validate()` with the library's field names turned into this command's flags."""
    from physai.core.errors import ConfigError

    try:
        cfg.validate()
    except ConfigError as exc:
        msg = re.sub(r"training option (\w+)", lambda m: _flag(m.group(1)), str(exc))
        raise ConfigError(re.sub(r"^device ", "--device ", msg)) from None
    return cfg


@handle_errors
@config_options(TrainConfig, _FIELDS, dest="options", flags=_FLAGS, minimum=_MIN, unset=True,
                shown={"steps": "the preset's"})
def train(
    policy: str = typer.Option(None, "--policy", help="mlp | act | flow | vla (or give --preset)."),
    preset: str = typer.Option(None, "--preset", help=_preset_help()),
    dataset: list[Path] = typer.Option(..., "--dataset", help="Dataset folder (repeat for several)."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder (checkpoint/, checkpoints/, metrics)."),
    set_: list[str] = typer.Option(None, "--set", help="Policy config field, KEY=VALUE (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    options: dict[str, Any] | None = None,
) -> None:
    """Train a policy (AdamW, warmup+cosine, EMA); the latest checkpoint is OUT/checkpoint/."""
    from physai.cli.ui import existing
    from physai.core.errors import ConfigError
    from physai.train import train as run_train
    from physai.train.presets import train_config

    cfg = _checked(train_config(policy, preset, options, _overrides(set_)))  # fails before data is read
    for d in dataset:
        existing(d, "--dataset", "dir")
    if out_dir.is_file():
        raise ConfigError(f"--out {out_dir} is a file; give a folder for the run")
    if not resume and (out_dir / "checkpoint").exists():
        raise ConfigError(
            f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    if not json_out:
        budget = f"{cfg.steps} steps" + (
            f" or {cfg.max_minutes:g} minutes, whichever comes first" if cfg.max_minutes else "")
        console.print(f"training {cfg.policy} on {', '.join(map(str, dataset))}: {budget}; the expected "
                      "duration follows the first steps", highlight=False)
    res = run_train(
        [str(d) for d in dataset], out_dir, cfg, resume=resume,
        progress=RichProgress(not json_out, announce="train"),
    )
    if json_out:
        print_json(res)
        return
    if res["interrupted"]:
        console.print(
            f"[yellow]interrupted[/yellow] at step {res['steps']}; checkpoint saved, --resume to continue"
        )
    out.print(
        f"[bold]{cfg.policy}[/bold] {res['steps']} steps, loss {res['final_loss']:.4g}, "
        f"{res['samples_per_s']:.0f} samples/s -> {res['checkpoint']}"
    )
    if res["success_rate"] is not None:
        out.print(f"closed-loop success {res['success_rate']:.0%}")
