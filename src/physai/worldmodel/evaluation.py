"""`physai wm eval`: how well a world model predicts a dataset (report.json + report.html).

- open-loop error against horizon 1..H per state group (robot, each task object), in normalised units
  (RMSE of the ensemble-mean prediction; 1.0 = one standard deviation of that state entry);
- calibration of the predicted success probability (reliability bins, Brier score, expected
  calibration error) against the recorded `next.success`;
- imagined vs simulated rollouts: the recorded (simulated) actions of a few episodes replayed open-loop
  in the model from the episode's first state, plotted next to the recorded states.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import torch

from physai.worldmodel.checkpoint import LoadedWorldModel, check_compatible
from physai.worldmodel.data import Episodes, load_episodes, state_groups
from physai.worldmodel.train import open_loop_error


def calibration(wm: LoadedWorldModel, eps: Episodes, bins: int = 10) -> dict:
    """Reliability of the one-step success probability over every transition of `eps`."""
    rows = np.concatenate([np.arange(a, b) for a, b in zip(eps.starts, eps.ends, strict=True)])
    with torch.no_grad():
        m = wm.model
        s_n = m.norm_state(torch.from_numpy(eps.state[rows])).unsqueeze(0).expand(m.cfg.ensemble, -1, -1)
        a_n = m.norm_action(torch.from_numpy(eps.action[rows])).unsqueeze(0).expand(m.cfg.ensemble, -1, -1)
        p = torch.sigmoid(m.step_n(s_n, a_n)[1]).mean(0).numpy()
    y = eps.success[rows]
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            conf, acc = float(p[sel].mean()), float(y[sel].mean())
            ece += sel.mean() * abs(conf - acc)
            table.append({"bin": [float(edges[b]), float(edges[b + 1])], "n": int(sel.sum()),
                          "predicted": conf, "observed": acc})
    return {"brier": float(((p - y) ** 2).mean()), "ece": float(ece), "bins": table,
            "positives": int(y.sum()), "transitions": int(len(y))}


def imagined_vs_recorded(wm: LoadedWorldModel, eps: Episodes, episodes: int = 3, max_len: int = 60,
                         seed: int = 0) -> list[dict]:
    """Recorded actions replayed open-loop in the model from each episode's first state."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(eps.num_episodes, size=min(episodes, eps.num_episodes), replace=False)
    out = []
    for e in picks:
        a, b = int(eps.starts[e]), int(min(eps.ends[e], eps.starts[e] + max_len + 1))
        s = torch.from_numpy(eps.state[a:b])
        r = wm.model.rollout(s[:1], torch.from_numpy(eps.action[a:b - 1])[None])
        out.append({"episode": int(e), "recorded": eps.state[a:b].tolist(),
                    "imagined": r["states"].mean(0)[0].tolist(), "spread": r["states"].std(0)[0].tolist()})
    return out


def evaluate_world_model(wm: LoadedWorldModel, datasets: list[str | Path], out: str | Path,
                         horizon: int | None = None) -> dict:
    """Evaluate `wm` on `datasets`; writes out/report.json and out/report.html, returns the JSON doc."""
    eps = load_episodes(list(datasets))
    check_compatible(wm, eps.state_names, eps.action_names, eps.embodiment, f"dataset {datasets[0]}")
    h = horizon or wm.horizon
    groups = state_groups(eps.state_names, eps.embodiment)
    doc = {
        "world_model": str(wm.path), "world_model_sha256": wm.sha256,
        "datasets": [s["path"] for s in eps.sources], "episodes": eps.num_episodes,
        "frames": int(len(eps.state)), "horizon": h, "trained_horizon": wm.horizon,
        "groups": {g: [eps.state_names[i] for i in idx] for g, idx in groups.items() if g != "all"},
        "open_loop_rmse": open_loop_error(wm.model, eps, h, groups),
        "calibration": calibration(wm, eps),
        "rollouts": imagined_vs_recorded(wm, eps),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(doc))
    (out / "report.html").write_text(render(doc, eps.state_names))
    return doc


def _plots(doc: dict, names: list[str]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from physai.report.eval_report import _png

    figs = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for g, err in doc["open_loop_rmse"].items():
        ax.plot(range(1, len(err) + 1), err, marker="o", label=g, lw=2.5 if g == "all" else 1.2)
    if doc["horizon"] > doc["trained_horizon"]:
        ax.axvline(doc["trained_horizon"], color="grey", ls=":", label="trained horizon")
    ax.set_xlabel("open-loop steps")
    ax.set_ylabel("RMSE (state std units)")
    ax.legend(fontsize=8)
    figs.append(("Open-loop prediction error against horizon", _png(fig)))
    cal = doc["calibration"]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="grey", ls="--")
    ax.plot([b["predicted"] for b in cal["bins"]], [b["observed"] for b in cal["bins"]], marker="o")
    ax.set_xlabel("predicted success probability")
    ax.set_ylabel("observed success frequency")
    figs.append((f"Success calibration (Brier {cal['brier']:.4f}, ECE {cal['ece']:.4f})", _png(fig)))
    prefixes = ("object.pos", "ee.pos", "waypoint", "base.pos")
    show = [n for n in names if n.startswith(prefixes)][:4] or names[:4]
    for r in doc["rollouts"]:
        fig, axes = plt.subplots(1, len(show), figsize=(3.2 * len(show), 2.6))
        for ax, n in zip(np.atleast_1d(axes), show, strict=False):
            i = names.index(n)
            rec, img = np.array(r["recorded"])[:, i], np.array(r["imagined"])[:, i]
            sp = np.array(r["spread"])[:, i]
            ax.plot(rec, label="simulated (recorded)", color="black")
            ax.plot(img, label="imagined", color="#c44e52")
            ax.fill_between(range(len(img)), img - sp, img + sp, color="#c44e52", alpha=0.2)
            ax.set_title(n, fontsize=9)
        np.atleast_1d(axes)[0].legend(fontsize=7)
        figs.append((f"Episode {r['episode']}: recorded actions replayed in the model", _png(fig)))
    return figs


def render(doc: dict, names: list[str]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(g)}</td>" + "".join(f"<td>{v:.3f}</td>" for v in err) + "</tr>"
        for g, err in doc["open_loop_rmse"].items())
    head = "".join(f"<th>{k}</th>" for k in range(1, doc["horizon"] + 1))
    plots = "".join(f"<h2>{html.escape(t)}</h2><img src='{src}'>" for t, src in _plots(doc, names))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>world model report</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}</style>"
            f"</head><body><h1>World model {html.escape(doc['world_model'])}</h1>"
            f"<p>{doc['episodes']} episodes, {doc['frames']} frames from "
            f"{html.escape(', '.join(doc['datasets']))}; trained horizon {doc['trained_horizon']}.</p>"
            f"<table><tr><th>group \\ steps</th>{head}</tr>{rows}</table>{plots}</body></html>")
