"""The demo job behind `make demo`: `run_demo` runs the registered stages (`physai.demo.registry`) in
lifecycle order and writes `summary.json` and `index.html`."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from physai.core.progress import NullProgress, Progress
from physai.demo.registry import STAGES, load_stages


def run_demo(out: Path, stages: list[str] | None = None, progress: Progress | None = None) -> dict:
    """Run the demo stages into `out`; returns the summary (also written to summary.json, index.html)."""
    available = load_stages()
    unknown = [s for s in stages or [] if s not in available]
    if unknown:
        from physai.core.errors import UnknownNameError

        raise UnknownNameError("demo stage", unknown[0], available)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or NullProgress()
    summary: dict = {"stages": {}}
    previous = out / "summary.json"
    if stages and previous.exists():  # a partial run updates its stages and keeps the others
        summary = json.loads(previous.read_text())
        summary.setdefault("stages", {})
    for name in stages or available:
        t0 = time.perf_counter()
        result = STAGES[name](out, progress)
        result["seconds"] = round(time.perf_counter() - t0, 2)
        summary["stages"][name] = result
    order = {n: i for i, n in enumerate(available)}
    summary["stages"] = dict(sorted(summary["stages"].items(), key=lambda kv: order.get(kv[0], len(order))))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "index.html").write_text(_html(summary))
    return summary


def _links(value: object, out: list[str]) -> None:
    """Collect every string in a stage result that names an html/png/mp4 file or a URL."""
    if isinstance(value, dict):
        for v in value.values():
            _links(v, out)
    elif isinstance(value, list):
        for v in value:
            _links(v, out)
    elif isinstance(value, str) and (value.endswith((".html", ".png", ".mp4")) or value.startswith("http")):
        out.append(value)


_STYLE = """
body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;overflow-x:hidden}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:0 1 320px;min-width:0}
.card b{display:block;overflow-wrap:anywhere}
video,img{max-width:100%;height:auto;display:block}
details{margin:.5em 0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.5em}
a{overflow-wrap:anywhere}
"""


def _html(summary: dict) -> str:
    """The demo page: pictures and videos first, each stage's figures behind a disclosure; fits any
    window width (no sideways scroll)."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>physai demo</title><style>{_STYLE}</style></head><body>", "<h1>physai demo</h1>"]
    stages = summary["stages"]
    experts = stages.get("experts")
    if experts:
        rates = [row["success_rate"] for row in experts["tasks"]]
        mean = sum(rates) / len(rates)
        parts.append(f"<p>{len(rates)} tasks; scripted experts solved {mean:.0%} of the demo episodes "
                     "(videos at the bottom).</p>")
    for name, result in stages.items():  # lifecycle stages first, the long video grid last
        if name == "experts":
            continue
        parts.append(f"<h2>{html.escape(name)} <small>({result.get('seconds', '?')} s)</small></h2>")
        links: list[str] = []
        _links(result, links)
        media, pages = [], []
        for link in dict.fromkeys(links):
            esc = html.escape(link)
            if link.endswith(".png"):
                media.append(f"<div class='card'><a href='{esc}'><img src='{esc}'></a></div>")
            elif link.endswith(".mp4"):
                media.append(f"<div class='card'><video controls muted loop src='{esc}'></video></div>")
            else:
                pages.append(f"<a href='{esc}'>{esc}</a>")
        if media:
            parts.append("<div class='grid'>" + "".join(media) + "</div>")
        if pages:
            parts.append("<p>" + " &middot; ".join(pages) + "</p>")
        parts.append("<details><summary>figures (JSON)</summary><pre>"
                     + html.escape(json.dumps(result, indent=2, default=str)) + "</pre></details>")
    if experts:
        parts.append(f"<h2>Scripted experts <small>({experts.get('seconds', '?')} s)</small></h2>")
        parts.append("<div class='grid'>")
        for row in experts["tasks"]:
            parts.append(f"<div class='card'><b>{html.escape(row['task'])}</b> "
                         f"success {row['success_rate']:.0%}<video controls muted loop "
                         f"src='{html.escape(row['video'])}'></video></div>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
