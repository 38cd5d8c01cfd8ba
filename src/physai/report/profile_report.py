"""`profile.html` of a `physai profile` run: latency CDF, deadline-miss rate vs control rate, energy and
carbon per device, the verdict table and the system description. Self-contained (base64 PNG plots)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_cdf(ok: list[dict]) -> str:
    """SingleStream latency CDF per device (log x)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for d in ok:
        q = d["single_stream"]["cdf_us"]
        ax.plot(q, [i / (len(q) - 1) for i in range(len(q))], label=d["device"] + f" ({d['precision']})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (us), batch 1")
    ax.set_ylabel("fraction of inferences")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def miss_plot(ok: list[dict], target: float) -> str:
    """Deadline-miss rate (with 95% upper bound) vs control rate per device."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for d in ok:
        rows = d["control_loop"]
        hz = [r["rate_hz"] for r in rows]
        ax.errorbar(
            hz,
            [max(r["miss_rate"], 1e-6) for r in rows],
            yerr=[[0] * len(rows), [r["miss_rate_upper95"] - r["miss_rate"] for r in rows]],
            marker="o",
            capsize=3,
            label=d["device"],
        )
    ax.axhline(target, color="#c44e52", ls="--", label=f"target {target:.1%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("control rate (Hz)")
    ax.set_ylabel("deadline-miss rate (bar: 95% upper bound; 0 drawn at 1e-6)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def energy_plot(ok: list[dict], grid: dict | None = None) -> str:
    """Energy per inference (mJ) and gCO2e per hour of operation per device; the carbon axis names the
    grid region and intensity it assumes. Few, compact tick labels so they never overlap."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    names = [d["device"] for d in ok]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 2.2))
    a1.barh(names, [d["energy"]["j_per_inference"] * 1e3 for d in ok], color="#4c72b0")
    a1.set_xlabel("mJ per inference")
    a2.barh(names, [d["energy"]["g_co2e_per_hour"] for d in ok], color="#55a868")
    where = ""
    if grid:
        year = f" {grid['year']}" if grid.get("year") else ""
        where = f"\ngrid {grid['region']}{year}: {grid['g_per_kwh']:g} gCO2e/kWh"
    a2.set_xlabel("gCO2e per hour of operation" + where)
    a2.set_yticks([])
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _table(headers: list[str], rows: list[list]) -> str:
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _f(v, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def render(doc: dict) -> str:
    """The HTML page of a profile document."""
    ok = [d for d in doc["devices"] if d.get("status") == "ok"]
    bad = [d for d in doc["devices"] if d.get("status") != "ok"]
    target = doc["config"]["miss_target"]
    g = doc["grid_intensity"]
    parts = [
        "<html><head><meta charset='utf-8'><title>physai profile</title><style>body{font-family:sans-serif;"
        "margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}th{background:#f0f0f0}.err{color:#a00}img{max-width:100%}"
        "</style></head><body>",
        "<h1>physai profile</h1>",
        f"<p>Package <code>{html.escape(str(doc['package']['path']))}</code> ({doc['package']['precision']}, "
        f"{doc['package']['control_hz']:g} Hz, chunk {doc['package']['chunk_size']}, execution "
        f"{html.escape(_execution(doc['package']['execution']))}, signed by "
        f"{html.escape(str(doc['package']['signed_by']))}).</p>",
    ]
    rows = []
    for d in ok:
        ss, v, e = d["single_stream"], d["verdict"], d["energy"]
        rows.append(
            [
                d["device"],
                d["precision"],
                _f(ss["p50_us"]),
                _f(ss["p99_us"]),
                _f(ss["p99_9_us"]),
                _f(ss["max_us"]),
                _f(v["max_sustained_hz"], "g"),
                _f(v["max_sustained_hz_upper95"], "g"),
                f"{e['j_per_inference'] * 1e3:.4f} ({e['method']})",
                f"{e['g_co2e_per_hour']:.4f}",
                f"{d['accuracy']['max_abs_diff']:.2e}",
            ]
        )
    parts.append(
        "<h2>Verdict</h2>"
        + _table(
            [
                "device",
                "precision",
                "p50 us",
                "p99 us",
                "p99.9 us",
                "max us",
                f"max Hz at <= {target:.1%} misses",
                "same, 95% bound",
                "mJ/inference (method)",
                f"gCO2e/h (grid {g['region']})",
                "max |diff| vs ref",
            ],
            rows,
        )
    )
    sp = doc.get("comparisons", {}).get("speedup_vs_torch_cpu_p50")
    if sp:
        parts.append(
            "<p>Batch-1 p50 speed-up over torch eager on CPU (same run): "
            + ", ".join(f"{html.escape(k)} {v:.2f}x" for k, v in sp.items())
            + "</p>"
        )
    for d in bad:
        parts.append(
            f"<p class='err'><b>{html.escape(d['device'])}</b>: {html.escape(d.get('error', ''))}</p>"
        )
    if ok:
        parts += [
            "<h2>Latency (SingleStream)</h2>",
            f"<img src='{latency_cdf(ok)}'>",
            "<h2>ControlLoop: deadline misses vs rate</h2>",
            f"<img src='{miss_plot(ok, target)}'>",
        ]
        cl = [
            [
                d["device"],
                c["rate_hz"],
                c["n"],
                c["misses"],
                f"{c['miss_rate']:.4%}",
                f"{c['miss_rate_upper95']:.4%}",
                c["longest_miss_streak"],
                _f(c["period_jitter_us"]["p99"]),
                _f(c["period_jitter_us"]["max"]),
            ]
            for d in ok
            for c in d["control_loop"]
        ]
        parts.append(
            _table(
                [
                    "device",
                    "Hz",
                    "ticks",
                    "misses",
                    "miss rate",
                    "95% upper",
                    "longest streak",
                    "jitter p99 us",
                    "jitter max us",
                ],
                cl,
            )
        )
        ch = [
            [
                d["device"],
                c["rate_hz"],
                c["ticks"],
                c["dry_ticks"],
                f"{c['dry_rate']:.4%}",
                c["longest_dry_streak"],
            ]
            for d in ok
            for c in d["chunked"]
        ]
        parts.append(
            "<h2>Chunked: action queue running dry</h2>"
            + _table(["device", "Hz", "ticks", "dry ticks", "dry rate", "longest dry streak"], ch)
        )
        tp = [
            [d["device"], r["batch"], _f(r.get("inferences_per_s"), ".0f"), _f(r.get("p50_us"))]
            for d in ok
            for r in d["throughput"].get("sweep", [])
        ]
        if tp:
            parts.append(
                "<h2>Throughput (batch sweep)</h2>"
                + _table(["device", "batch", "inferences/s", "p50 us"], tp)
            )
        parts += [
            "<h2>Energy and carbon</h2>",
            f"<img src='{energy_plot(ok, g)}'>",
            f"<p>Grid intensity {g['g_per_kwh']:g} gCO2e/kWh ({html.escape(str(g['region']))} "
            f"{g['year'] or ''}; {html.escape(g['source'])}). Per hour of operation = energy per inference x "
            "inferences per hour at the package's control rate. Methods: rapl/nvml/jetson-ina are hardware "
            "counters (RAPL counts the whole CPU package, other processes included); 'estimate' is CPU "
            "time x rated power, not a measurement.</p>",
        ]
        parts.append(
            _table(
                ["device", "method", "W avg", "J/inference", "Wh per hour", f"gCO2e/h (grid {g['region']})"],
                [
                    [
                        d["device"],
                        d["energy"]["method"],
                        _f(d["energy"]["avg_power_w"], ".2f"),
                        f"{d['energy']['j_per_inference']:.3e}",
                        f"{d['energy']['wh_per_hour']:.4f}",
                        f"{d['energy']['g_co2e_per_hour']:.4f}",
                    ]
                    for d in ok
                ],
            )
        )
    parts.append("<h2>System</h2><pre>" + html.escape(json.dumps(doc["system"], indent=2)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(doc: dict, path: Path) -> Path:
    """Write `profile.html`."""
    Path(path).write_text(render(doc))
    return Path(path)


def _execution(ex: dict) -> str:
    if ex.get("mode") == "ensemble":
        return f"temporal ensembling (coefficient {ex.get('ensemble_coef'):g})"
    return f"{ex.get('horizon')} actions per chunk"
