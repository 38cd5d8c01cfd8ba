"""Teleop command-to-motion latency through the browser page, in headless Chromium.

A simulated `tabletop/stack` arm runs at its control rate (20 Hz, real time) behind the browser source;
the page (driven by Playwright) holds a key from rest, timestamps the command it sends, and stops the
clock when a status message says the robot was measured moving with that command applied (TCP moved
more than 0.5 mm in one step); then it releases the key and waits until the arm is still. The baseline,
measured in the same run on the same session, is a Python websocket client doing the same probes (the
protocol and control loop without the browser). Reported: p50/p99 in ms and in control periods.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/teleop_latency.py --probes 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def session(out: Path, ready: threading.Event, stop: threading.Event, box: dict) -> None:
    import physai
    from physai.teleop import ActionArbiter, context_from_env
    from physai.teleop.browser import BrowserSource
    from physai.teleop.session import open_writer, run_episode_arbitrated

    env = physai.make(
        "tabletop/stack",
        obs=("state", "images", "instruction"),
        cameras=["scene"],
        image_size=(64, 64),
        max_steps=100_000,
    )
    src = BrowserSource(port=0)
    arb = ActionArbiter([src], policy=False)
    try:
        arb.start(context_from_env(env))
        box["src"] = src
        ready.set()
        with open_writer(env, out) as w:
            box["outcome"] = run_episode_arbitrated(
                env,
                arb,
                0,
                writer=w,
                realtime=True,
                stop=stop.is_set,
                wait_for_operator=True,
                keep_failures=True,
                on_step=lambda o, d, s: src.show(o, s, d.seq),
            )
    finally:
        ready.set()
        arb.close()
        env.close()


def stats(ms: list[float], period_ms: float) -> dict:
    a = np.asarray(ms)
    return {
        "n": len(a),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "p50_periods": float(np.percentile(a, 50) / period_ms),
        "p99_periods": float(np.percentile(a, 99) / period_ms),
    }


async def python_probes(port: int, n: int) -> list[float]:
    from websockets.asyncio.client import connect

    out = []
    async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        json.loads(await ws.recv())
        seq = 10_000

        async def until(pred) -> None:
            while True:
                m = await ws.recv()
                if isinstance(m, str):
                    doc = json.loads(m)
                    if doc["type"] == "status" and pred(doc):
                        return

        for i in range(n):
            seq += 1
            t0 = time.perf_counter()
            z = 1 if i % 2 == 0 else -1
            await ws.send(json.dumps({"type": "cmd", "seq": seq, "twist": [0, 0, z, 0, 0, 0]}))
            await until(lambda d, s=seq: d["moved_seq"] is not None and d["moved_seq"] >= s)
            out.append((time.perf_counter() - t0) * 1e3)
            seq += 1
            await ws.send(json.dumps({"type": "cmd", "seq": seq, "twist": [0, 0, 0, 0, 0, 0]}))
            await until(lambda d: not d["moving"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=60)
    ap.add_argument("--out", default="bench/results/teleop_latency.json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    stop, ready, box = threading.Event(), threading.Event(), {}
    th = threading.Thread(
        target=session, args=(Path(tempfile.mkdtemp()) / "ds", ready, stop, box), daemon=True
    )
    th.start()
    ready.wait(120)
    src = box["src"]
    period = 1e3 / src.ctx.hz
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(src.url)
        page.wait_for_function("window.physai.connected")
        for i in range(args.probes):
            key = "r" if i % 2 == 0 else "f"
            page.keyboard.down(key)
            page.wait_for_function(f"window.physai.latencies.length >= {i + 1}", timeout=30_000)
            page.keyboard.up(key)
            page.wait_for_function("window.physai.status && !window.physai.status.moving", timeout=30_000)
        lat = page.evaluate("window.physai.latencies")
        frames = page.evaluate("window.physai.frames")
        browser.close()
    # the page closed: the source is disconnected; a Python client reconnects as the operator
    src.reset()
    py = asyncio.run(python_probes(src.port, args.probes))
    stop.set()
    th.join(timeout=30)
    res = {
        "command": f"python bench/teleop_latency.py --probes {args.probes}",
        "control_period_ms": period,
        "browser": stats(lat, period),
        "python_client_baseline": stats(py, period),
        "browser_over_baseline_p50": float(np.percentile(lat, 50) / np.percentile(py, 50)),
        "frames_received_by_page": frames,
        "late_steps": box["outcome"].late_steps if "outcome" in box else None,
        "steps": box["outcome"].steps if "outcome" in box else None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
