"""`physai wm`: train a world model on recorded data, evaluate it, judge policy checkpoints inside it.

Planning with a model is a policy source: `physai eval --policy wm-plan:RUN`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, existing, handle_errors, new_folder, out, print_json

wm_app = typer.Typer(help="World models: learn dynamics from datasets, evaluate them, judge policies.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(wm_app, name="wm")


@wm_app.command("train")
@handle_errors
def train(
    dataset: list[Path] = typer.Option(..., "--dataset", help="Dataset folder (repeat for several)."),
    out_dir: Path = typer.Option(..., "--out", help="New run folder (config.json + model.safetensors)."),
    steps: int = typer.Option(1500, "--steps", min=1, help="Optimizer steps."),
    horizon: int = typer.Option(5, "--horizon", min=1, help="Open-loop training horizon H."),
    ensemble: int = typer.Option(5, "--ensemble", min=1, help="Ensemble members."),
    hidden: int = typer.Option(128, "--hidden", min=1, help="Hidden width per member."),
    batch_size: int = typer.Option(128, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Train an action-conditioned ensemble world model (next state, success, progress)."""
    from physai.worldmodel import WorldModelConfig, train_world_model

    for d in dataset:
        existing(d, "--dataset", "dir")
    new_folder(out_dir)
    cfg = WorldModelConfig(steps=steps, horizon=horizon, ensemble=ensemble, hidden=hidden,
                           batch_size=batch_size, lr=lr, seed=seed)
    cfg.validate()
    doc = train_world_model([str(d) for d in dataset], out_dir, cfg, RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
        return
    err = doc["open_loop_rmse"]["all"]
    out.print(f"world model: {doc['episodes']} episodes, {doc['frames']} frames, {doc['train_seconds']} s; "
              f"open-loop RMSE ({doc['error_split']}) 1 step {err[0]:.3f}, {len(err)} steps {err[-1]:.3f} "
              f"-> {doc['out']}")


@wm_app.command("eval")
@handle_errors
def evaluate(
    model: Path = typer.Option(..., "--model", help="World model run folder."),
    dataset: list[Path] = typer.Option(..., "--dataset", help="Dataset to evaluate on (repeatable)."),
    out_dir: Path = typer.Option(None, "--out", help="Report folder (default MODEL/eval)."),
    horizon: int = typer.Option(None, "--horizon", min=1, help="Error curve steps (default: trained H)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Open-loop error vs horizon per state group, success calibration, imagined vs recorded rollouts."""
    from physai.worldmodel import load_world_model
    from physai.worldmodel.evaluation import evaluate_world_model

    existing(model, "--model", "dir")
    for d in dataset:
        existing(d, "--dataset", "dir")
    wm = load_world_model(model)
    dest = out_dir or model / "eval"
    doc = evaluate_world_model(wm, [str(d) for d in dataset], dest, horizon)
    if json_out:
        print_json({k: v for k, v in doc.items() if k != "rollouts"})
        return
    for g, err in doc["open_loop_rmse"].items():
        out.print(f"{g:>10}: " + " ".join(f"{e:.3f}" for e in err))
    cal = doc["calibration"]
    out.print(f"success calibration: Brier {cal['brier']:.4f}, ECE {cal['ece']:.4f}; "
              f"report {dest / 'report.html'}")


@wm_app.command("judge")
@handle_errors
def judge_cmd(
    model: Path = typer.Option(..., "--model", help="World model run folder."),
    policies: list[Path] = typer.Option(..., "--policies", help="Policy checkpoint (repeatable)."),
    dataset: list[Path] = typer.Option(None, "--dataset",
                                       help="Initial states from these datasets (default: the model's)."),
    episodes: int = typer.Option(20, "--episodes", min=1, help="Imagined episodes per checkpoint."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Imagined episode length."),
    simulate: bool = typer.Option(False, "--simulate", help="Also run each checkpoint in the simulator."),
    sim_episodes: int = typer.Option(30, "--sim-episodes", min=1),
    task: str = typer.Option(None, "--task", help="Task (default: the model's)."),
    seed: int = typer.Option(0, "--seed"),
    spread_quantile: float = typer.Option(0.99, "--spread-quantile",
                                          help="End an imagined episode once the members disagree more than "
                                          "on this quantile of recorded transitions (1: never)."),
    out_dir: Path = typer.Option(None, "--out", help="Folder for judge.json."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Rank policy checkpoints by imagined success (and Kendall tau vs simulated with --simulate)."""
    from physai.worldmodel import load_world_model
    from physai.worldmodel.judge import judge

    existing(model, "--model", "dir")
    for p in policies:
        existing(p, "--policies", "dir")
    doc = judge(load_world_model(model), [str(p) for p in policies],
                [str(d) for d in dataset] if dataset else None, episodes, max_steps, simulate, sim_episodes,
                task, seed, out_dir, RichProgress(enabled=not json_out),
                None if spread_quantile >= 1 else spread_quantile)
    if json_out:
        print_json(doc)
        return
    for r in doc["checkpoints"]:
        sim = f"  simulated {r['simulated_success']:.0%}" if "simulated_success" in r else ""
        out.print(f"{r['checkpoint']}: imagined {r['imagined_success']:.0%} ({r['imagined_seconds']} s){sim}")
    if "kendall_tau" in doc:
        out.print(f"Kendall tau {doc['kendall_tau']:.3f}")
