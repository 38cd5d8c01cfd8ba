"""`view`: a PNG contact sheet of camera frames and plots of state/action over time for some episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physai.core.errors import ConfigError
from physai.data.dataset import Dataset


def view(
    root: str | Path, out: str | Path, episodes: list[int] | None = None, frames_per_episode: int = 6
) -> dict:
    """Write `contact_sheet.png` and `signals.png` into `out`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = Dataset(root)
    episodes = episodes if episodes is not None else list(range(min(3, ds.num_episodes)))
    bad = [e for e in episodes if not 0 <= e < ds.num_episodes]
    if bad or not episodes:
        raise ConfigError(f"episodes {bad or episodes} not in {root} ({ds.num_episodes} episodes)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    cams = ds.video_keys
    if cams:
        rows = len(episodes) * len(cams)
        fig, axes = plt.subplots(
            rows, frames_per_episode, figsize=(1.6 * frames_per_episode, 1.6 * rows), squeeze=False
        )
        for i, ep in enumerate(episodes):
            lo, hi = ds.episode_range(ep)
            picks = np.linspace(lo, hi - 1, frames_per_episode).round().astype(int)
            items = [ds[int(p)] for p in picks]
            for c, cam in enumerate(cams):
                for j, it in enumerate(items):
                    ax = axes[i * len(cams) + c, j]
                    ax.imshow(it[cam].permute(1, 2, 0).numpy())
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if j == 0:
                        ax.set_ylabel(f"ep {ep}\n{cam.split('.')[-1]}", fontsize=7)
                    if i == 0 and c == 0:
                        ax.set_title(f"t={int(it['frame_index'])}", fontsize=7)
        fig.tight_layout()
        written["contact_sheet"] = str(out / "contact_sheet.png")
        fig.savefig(written["contact_sheet"], dpi=100)
        plt.close(fig)
    keys = [k for k in ("observation.state", "action") if k in ds.features]
    fig, axes = plt.subplots(
        len(episodes), len(keys), figsize=(6 * len(keys), 2.5 * len(episodes)), squeeze=False
    )
    data = ds.arrays()
    for i, ep in enumerate(episodes):
        lo, hi = ds.episode_range(ep)
        b = {k: data[k][lo:hi] for k in keys}
        for j, k in enumerate(keys):
            v = np.asarray(b[k]).reshape(hi - lo, -1)
            names = ds.features[k].get("names") or []
            for d in range(min(v.shape[1], 12)):
                axes[i, j].plot(v[:, d], lw=0.8, label=names[d] if d < len(names) else str(d))
            axes[i, j].set_title(f"episode {ep}: {k}", fontsize=8)
            axes[i, j].set_xlabel("frame", fontsize=7)
            if "control_source" in data:  # interventions: shade human (orange) and held (red) steps
                _shade(axes[i, j], np.asarray(data["control_source"][lo:hi]).reshape(-1))
        if i == 0:
            for j in range(len(keys)):
                axes[0, j].legend(fontsize=5, ncol=4)
    fig.tight_layout()
    written["signals"] = str(out / "signals.png")
    if "control_source" in data:
        src = np.concatenate([np.asarray(data["control_source"][slice(*ds.episode_range(e))]).reshape(-1)
                              for e in episodes])
        # who commanded the shown episodes' steps (intervention recordings; shaded in signals.png)
        written["control_steps"] = " ".join(
            f"{n}={int((src == c).sum())}" for c, n in enumerate(("policy", "human", "hold"))
        )
    fig.savefig(written["signals"], dpi=100)
    plt.close(fig)
    return written


def _shade(ax, src: np.ndarray) -> None:
    """Shade the runs of human (1) and hold (2) steps of an intervention recording."""
    for code, colour in ((1, "tab:orange"), (2, "tab:red")):
        on = np.concatenate([[False], src == code, [False]])
        edges = np.flatnonzero(np.diff(on.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            ax.axvspan(a - 0.5, b - 0.5, color=colour, alpha=0.2, lw=0)
