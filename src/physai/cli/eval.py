"""`physai eval` (run the benchmark) and `physai eval compare A B` (regression gate)."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import (
    RichProgress,
    console,
    existing,
    handle_errors,
    out,
    positive,
    print_json,
    print_table,
    table,
)

eval_app = typer.Typer(help="Benchmark a policy: parallel, seeded, with confidence intervals and a report.",
                       invoke_without_command=True, no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.callback(invoke_without_command=True)
@handle_errors
def run(
    ctx: typer.Context,
    policy: str = typer.Option(None, "--policy",
                               help="expert | random | ws://HOST:PORT | py:mod:fn | checkpoint | package."),
    tasks: str = typer.Option(
        None, "--tasks",
        help="T1,T2 | suite:NAME | all (default: the tasks a checkpoint/package was trained on, else all)."),
    env: str = typer.Option("physai", "--env", help="physai, or gym:<id> for an installed gymnasium env."),
    episodes: int = typer.Option(50, "--episodes", min=1, help="Episodes per task."),
    workers: str = typer.Option("auto", "--workers", help="auto | N (0: run in this process)."),
    seed: int = typer.Option(0, "--seed", help="Base seed; episode seeds derive from (seed, task, index)."),
    out_dir: Path = typer.Option(None, "--out", help="Run folder (default runs/eval-<policy>-<seed>)."),
    videos: int = typer.Option(0, "--videos", min=0, help="Successes and failures per task to record."),
    backend: str = typer.Option("local", "--backend", help="local | ray."),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray cluster address (default: local)."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Override the episode step limit."),
    episode_timeout: float = typer.Option(None, "--episode-timeout",
                                          help="Seconds before a stuck episode errors."),
    control: str = typer.Option(None, "--control", help="Override the control mode."),
    obs: str = typer.Option(None, "--obs", help="Override observation keys, e.g. state,images,instruction."),
    token_file: Path = typer.Option(None, "--token-file", help="File with the remote server's API token."),
    public_key: Path = typer.Option(None, "--public-key",
                                    help="Key a package must be signed with (+ $PHYSAI_TRUSTED_KEYS)."),
    allow_unsigned: bool = typer.Option(False, "--allow-unsigned", help="Evaluate an unsigned package."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Evaluate a policy on tasks; writes results.json and report.html to --out."""
    if ctx.invoked_subcommand is not None:
        return
    if policy is None:
        console.print(ctx.get_help())
        raise typer.Exit(code=2)
    from physai.evaluate import EvalConfig, run_eval
    from physai.evaluate.runner import resolve_workers

    resolve_workers(workers, 1)  # bad values fail before any policy is loaded
    positive(episode_timeout, "--episode-timeout")
    existing(token_file, "--token-file", "file")
    existing(public_key, "--public-key", "file")
    if out_dir is None:
        tag = "".join(c if c.isalnum() else "-" for c in Path(policy).name or policy)[:40]
        out_dir = Path("runs") / f"eval-{tag}-{seed}"
    cfg = EvalConfig(policy=policy, out=out_dir, tasks=tasks, env=env, episodes=episodes, seed=seed,
                     workers=workers, backend=backend, ray_address=ray_address, videos=videos,
                     max_steps=max_steps, episode_timeout_s=episode_timeout, control=control,
                     obs=tuple(k.strip() for k in obs.split(",")) if obs else None,
                     api_key=token_file.read_text().strip() if token_file else None,
                     trusted_keys=(str(public_key),) if public_key else (), allow_unsigned=allow_unsigned)
    doc = run_eval(cfg, RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
    else:
        t = table("task", "success", "95% CI", "n", "errors", "mean len", "mean s")
        for name, r in doc["tasks"].items():
            t.add_row(name, f"{r['success_rate']:.1%}", f"[{r['ci95'][0]:.1%}, {r['ci95'][1]:.1%}]",
                      str(r["episodes"]), str(r["errors"]), f"{r['mean_length']:.1f}",
                      f"{r['mean_time_s']:.2f}")
        print_table(t)
        flag = " [red](PARTIAL: interrupted)[/red]" if doc["partial"] else ""
        out.print(f"suite score [bold]{doc['suite_score']:.3f}[/bold]{flag}  "
                  f"({doc['timing']['episodes_per_min']} episodes/min)")
        out.print(f"results {out_dir / 'results.json'}  report {out_dir / 'report.html'}")
    if doc["partial"]:
        raise typer.Exit(code=130)


@eval_app.command("compare")
@handle_errors
def compare(
    a: Path = typer.Argument(..., help="Baseline run folder (or results.json)."),
    b: Path = typer.Argument(..., help="Candidate run folder (or results.json)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the two-proportion test."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Per-task differences B - A with a two-proportion z-test; exit code 1 on a significant regression."""
    from physai.evaluate import compare_results, load_results

    if not 0 < alpha < 1:
        from physai.core.errors import ConfigError

        raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
    doc = compare_results(load_results(a), load_results(b), alpha=alpha)
    if json_out:
        print_json(doc)
    else:
        t = table("task", "A", "B", "diff", "p-value", "verdict")
        for r in doc["tasks"]:
            colour = {"regression": "red", "improvement": "green"}.get(r["verdict"], "white")
            t.add_row(r["task"], f"{r['a_success']:.1%} (n={r['a_episodes']})",
                      f"{r['b_success']:.1%} (n={r['b_episodes']})",
                      "-" if r["diff"] is None else f"{r['diff']:+.1%}",
                      "-" if r["p_value"] is None else f"{r['p_value']:.3g}",
                      f"[{colour}]{r['verdict']}[/{colour}]" + (" *" if r["significant"] else ""))
        print_table(t)
        out.print(f"suite score {doc['a']['suite_score']:.3f} -> {doc['b']['suite_score']:.3f} "
                  f"({doc['suite_diff']:+.3f}); * significant at alpha={alpha}")
        if not doc["seeds_match"]:
            console.print("[yellow]warning:[/yellow] the runs used different base seeds")
        if doc["only_in_a"] or doc["only_in_b"]:
            console.print(f"[yellow]tasks in one run only:[/yellow] {doc['only_in_a'] + doc['only_in_b']}")
    if doc["regressed"]:
        raise typer.Exit(code=1)
