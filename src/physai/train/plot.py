"""Training-curve plot from metrics.jsonl (loss, and eval success rate when logged)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curve(metrics: Path, out_png: Path) -> Path | None:
    """Write a PNG of loss vs step (log scale) with eval success on a second axis; None without data."""
    if not metrics.exists():
        return None
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    loss = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_success_rate"]) for r in rows if "eval_success_rate" in r]
    if not loss:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([s for s, _ in loss], [v for _, v in loss], lw=1, label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if all(v > 0 for _, v in loss):
        ax.set_yscale("log")
    if evals:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in evals], [v for _, v in evals], "o-", color="tab:green", label="success")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_ylabel("eval success rate")
    fig.tight_layout()
    tmp = out_png.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_png)
    return out_png
