"""`report.html` of an evaluation run: per-task success with 95% intervals, success vs. episode length,
and embedded replay videos of successes and failures. Self-contained: plots are base64 PNGs and videos
are base64 data URIs (videos over `MAX_EMBED_BYTES` are linked instead)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

MAX_EMBED_BYTES = 8 * 1024 * 1024
"""Larger videos are linked by relative path rather than embedded."""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def success_plot(doc: dict) -> str:
    """Horizontal bars of per-task success with Wilson 95% interval whiskers (base64 PNG URI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(doc["tasks"])
    rates = [doc["tasks"][t]["success_rate"] for t in names]
    lo = [r - doc["tasks"][t]["ci95"][0] for r, t in zip(rates, names, strict=True)]
    hi = [doc["tasks"][t]["ci95"][1] - r for r, t in zip(rates, names, strict=True)]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.2))
    ax.barh(range(len(names)), rates, xerr=[lo, hi], color="#4c72b0", capsize=4)
    ax.axvline(doc["suite_score"], color="#c44e52", ls="--", label=f"suite score {doc['suite_score']:.2f}")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("success rate (95% Wilson interval)")
    ax.legend(loc="lower right")
    return _png(fig)


def length_plot(doc: dict) -> str:
    """Episode length histogram per task, successes and failures stacked (base64 PNG URI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(doc["tasks"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 2.8), squeeze=False)
    for ax, t in zip(axes[0], names, strict=True):
        eps = [e for e in doc["episodes"] if e["task"] == t and e["status"] == "ok"]
        s = [e["length"] for e in eps if e["success"]]
        f = [e["length"] for e in eps if not e["success"]]
        if s or f:
            ax.hist([s, f], bins=15, stacked=True, color=["#55a868", "#c44e52"], label=["success", "failure"])
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("episode length (steps)")
    axes[0][0].set_ylabel("episodes")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _video_tag(out: Path, v: dict) -> str:
    if v.get("path") is None:
        return (f"<figure class='failure'><figcaption>{html.escape(v['task'])} ep {v['index']}: recording "
                f"failed: <code>{html.escape(str(v.get('error')))}</code></figcaption></figure>")
    path = out / v["path"]
    label = "success" if v["success"] else "failure"
    cap = f"{html.escape(v['task'])} ep {v['index']} (seed {v['seed']}): {label}"
    if v.get("original_success") is not None and v["original_success"] != v["success"]:
        cap += " — replay differs from the scored episode (non-deterministic policy)"
    if path.exists() and path.stat().st_size <= MAX_EMBED_BYTES:
        src = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    else:
        src = html.escape(v["path"])
    return (f"<figure class='{label}'><video controls muted loop playsinline src='{src}'></video>"
            f"<figcaption>{cap}</figcaption></figure>")


def render_report(doc: dict, out: Path) -> str:
    """The report HTML for a results document whose files live under `out`."""
    title = f"physai eval — {doc['policy'].get('spec', '?')}"
    rows = []
    for t, r in doc["tasks"].items():
        lo, hi = r["ci95"]
        rows.append(f"<tr><td>{html.escape(t)}</td><td>{r['success_rate']:.1%}</td>"
                    f"<td>[{lo:.1%}, {hi:.1%}]</td>"
                    f"<td>{r['successes']}/{r['episodes']}</td><td>{r['errors']}</td>"
                    f"<td>{r['mean_length']:.1f}</td><td>{r['mean_time_s']:.2f}</td></tr>")
    errors = [e for e in doc["episodes"] if e["status"] != "ok"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child{text-align:left}.partial{background:#fdd;padding:8px;border:1px solid #c44}"
        "figure{display:inline-block;margin:6px;vertical-align:top}video{width:320px}"
        "figure.success figcaption{color:#2a7a3a}figure.failure figcaption{color:#a33}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if doc["partial"]:
        parts.append("<p class='partial'><b>Partial results</b>: the run was interrupted; "
                     f"{len(doc['episodes'])} episodes were completed.</p>")
    g = doc["git"]
    parts.append(f"<p>suite score <b>{doc['suite_score']:.3f}</b> (mean of per-task success over "
                 f"{doc['suite_tasks']} task(s)) · {doc['config']['episodes']} episodes/task · seed "
                 f"{doc['seeds']['base']} · {doc['config']['workers']} worker(s), {doc['config']['backend']} "
                 f"backend · commit {html.escape(str(g.get('commit'))[:12])}"
                 f"{' (dirty)' if g.get('dirty') else ''}"
                 f" · {html.escape(doc['created'])}</p>")
    parts.append("<table><tr><th>task</th><th>success</th><th>95% CI</th><th>n</th><th>errors</th>"
                 "<th>mean length</th><th>mean time (s)</th></tr>" + "".join(rows) + "</table>")
    if doc["episodes"]:
        parts.append(f"<h2>Success per task</h2><img alt='success per task' src='{success_plot(doc)}'>")
        parts.append(f"<h2>Success vs. episode length</h2><img alt='lengths' src='{length_plot(doc)}'>")
    if doc["videos"]:
        parts.append("<h2>Rollouts</h2>" + "".join(_video_tag(out, v) for v in doc["videos"]))
    if errors:
        parts.append("<h2>Errored episodes</h2><ul>" + "".join(
            f"<li>{html.escape(e['task'])} ep {e['index']} (seed {e['seed']}, {e['attempts']} attempts): "
            f"<code>{html.escape(str(e['error']))}</code></li>" for e in errors[:100]) + "</ul>")
    meta = {k: doc[k] for k in ("policy", "hardware", "git", "config", "timing")}
    parts.append("<h2>Run</h2><pre>" + html.escape(json.dumps(meta, indent=2)) + "</pre></body></html>")
    return "\n".join(parts)


def write_report(doc: dict, out: Path) -> Path:
    """Write `out/report.html`."""
    path = Path(out) / "report.html"
    path.write_text(render_report(doc, Path(out)))
    return path
