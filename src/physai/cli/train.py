"""`physai train`: train a policy on one or more LeRobot datasets into a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from physai.cli.ui import RichProgress, console, handle_errors, out, print_json

DEFAULT_STEPS = 5000
DEFAULT_MINUTES = 60.0


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


@handle_errors
def train(
    policy: str = typer.Option(..., "--policy", help="mlp | act | flow | vla"),
    dataset: list[Path] = typer.Option(..., "--dataset", help="Dataset folder (repeat for several)."),
    steps: int = typer.Option(
        None, "--steps", min=1,
        help=f"Optimizer steps in total (default {DEFAULT_STEPS}; with neither --steps nor --minutes the run "
        f"also stops after {DEFAULT_MINUTES:g} minutes)."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder (checkpoint/, checkpoints/, metrics)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    lr: float = typer.Option(3e-4, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    save_every: int = typer.Option(1000, "--save-every", min=0, help="Checkpoint every K steps."),
    eval_every: int = typer.Option(0, "--eval-every", min=0, help="Closed-loop eval every K steps."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", min=1),
    eval_task: str = typer.Option(None, "--eval-task", help="Task to evaluate on (default: the dataset's)."),
    minutes: float = typer.Option(
        None, "--minutes",
        help="Wall-clock training budget; the run stops at --steps or here, whichever comes first."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:i]"),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch."),
    set_: list[str] = typer.Option(None, "--set", help="Policy config field, KEY=VALUE (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Train a policy (AdamW, warmup+cosine, EMA); the latest checkpoint is OUT/checkpoint/."""
    from physai.cli.ui import existing
    from physai.train import TrainConfig
    from physai.train import train as run_train

    if steps is None and minutes is None:
        minutes = DEFAULT_MINUTES
    steps = DEFAULT_STEPS if steps is None else steps
    cfg = TrainConfig(
        policy=policy,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        save_every=save_every,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        eval_task=eval_task,
        device=device,
        num_threads=threads,
        max_minutes=minutes,
        policy_overrides=_overrides(set_),
    )
    cfg.validate()  # bad numbers fail before any data is read
    for d in dataset:
        existing(d, "--dataset", "dir")
    if not json_out:
        budget = f"{steps} steps" + (f" or {minutes:g} minutes, whichever comes first" if minutes else "")
        console.print(f"training {policy} on {', '.join(map(str, dataset))}: {budget}; the expected "
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
        f"[bold]{policy}[/bold] {res['steps']} steps, loss {res['final_loss']:.4g}, "
        f"{res['samples_per_s']:.0f} samples/s -> {res['checkpoint']}"
    )
    if res["success_rate"] is not None:
        out.print(f"closed-loop success {res['success_rate']:.0%}")
