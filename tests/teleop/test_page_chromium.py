"""The teleop page in a real headless Chromium (Debian's `chromium`, driven by Playwright): the page
connects, keys move the simulated arm, camera frames arrive, malformed and oversized messages are
refused while the session goes on, and 'save episode' records a LeRobot v3 episode of human steps.
Command-to-motion latency is measured the way the page measures it (`bench/teleop_latency.py` reports
it over more probes); no timing is asserted. Skips when Chromium or Playwright is missing."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_teleop_page_in_chromium(tmp_path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="python package playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    import physai
    from physai.data.dataset import Dataset
    from physai.teleop import ActionArbiter, context_from_env
    from physai.teleop.browser import BrowserSource
    from physai.teleop.session import open_writer, run_episode_arbitrated

    src = BrowserSource(port=0)
    arb = ActionArbiter([src], policy=False)
    stop, ready = threading.Event(), threading.Event()
    result: dict = {}

    def session() -> None:  # the env lives on this thread (its GL context is current here)
        env = physai.make(
            "tabletop/stack",
            obs=("state", "images", "instruction"),
            cameras=["scene"],
            image_size=(64, 64),
            max_steps=5000,
        )
        try:
            arb.start(context_from_env(env))
            ready.set()
            with open_writer(env, tmp_path / "ds") as writer:
                result["outcome"] = run_episode_arbitrated(
                    env,
                    arb,
                    0,
                    writer=writer,
                    realtime=True,
                    stop=stop.is_set,
                    wait_for_operator=True,
                    on_step=lambda o, d, s: src.show(o, s, d.seq),
                )
        except BaseException as exc:
            result["error"] = exc
        finally:
            ready.set()
            env.close()

    th = threading.Thread(target=session, daemon=True)
    th.start()
    assert ready.wait(60) and "error" not in result, result.get("error")
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page()
            page.goto(src.url)
            page.wait_for_function("window.physai.connected && window.physai.role === 'operator'")
            page.wait_for_function("window.physai.frames > 0", timeout=20_000)  # camera frames stream
            assert page.locator("img[data-camera='scene']").count() == 1

            def probe(key: str, n: int) -> None:
                page.keyboard.down(key)
                page.wait_for_function(f"window.physai.latencies.length >= {n}", timeout=20_000)
                page.keyboard.up(key)
                page.wait_for_function("window.physai.status && !window.physai.status.moving", timeout=20_000)

            for i in range(6):
                probe("r" if i % 2 == 0 else "f", i + 1)
            page.evaluate("window.physai.ws.send('{not json')")
            page.evaluate("window.physai.ws.send('x'.repeat(20000))")
            page.wait_for_function("window.physai.errors.length >= 2")
            errors = page.evaluate("window.physai.errors")
            assert "not JSON" in errors[0] and "exceeds" in errors[1]
            probe("r", 7)  # the session goes on after bad input
            latencies = page.evaluate("window.physai.latencies")
            page.click("text=save episode")
            th.join(timeout=30)
            browser.close()
    finally:
        stop.set()
        th.join(timeout=10)
        arb.close()
    assert "error" not in result, result.get("error")
    out = result["outcome"]
    assert out.ended_by == "save" and out.kept and out.steps["human"] > 10 and out.steps["hold"] == 0
    assert len(latencies) == 7 and all(0 < x < 20_000 for x in latencies)
    print(f"command-to-motion latency (ms): p50 {np.percentile(latencies, 50):.1f}, max {max(latencies):.1f}")
    ds = Dataset(tmp_path / "ds")
    assert ds.num_episodes == 1 and "observation.images.scene" in ds.features
    assert set(np.asarray(ds.arrays()["control_source"]).reshape(-1).tolist()) == {1}
