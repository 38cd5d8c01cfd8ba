"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright): log in, see a
robot appear, watch a deployment roll out, open an episode's video. Skips when either is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

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


def test_dashboard_in_chromium(tmp_path, signed_package) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="python package playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from physai.fleet.agent import Agent, AgentConfig, enroll
    from physai.fleet.client import FleetClient
    from physai.fleet.server import BackgroundServer
    from physai.fleet.service import FleetConfig

    cfg = FleetConfig(
        db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "data", trusted_keys=[signed_package["pub"]]
    )
    with BackgroundServer(cfg) as srv, sync_api.sync_playwright() as pw:
        admin = FleetClient(srv.url, srv.admin_key)
        admin.post("/orgs", {"name": "acme"})
        admin.post("/sites", {"org_id": 1, "name": "lab"})
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(srv.url + "/")
        page.fill("#key", "wrong")
        page.click("#login-btn")
        page.wait_for_selector("#login-err:has-text('login failed')")
        page.fill("#key", srv.admin_key)
        page.click("#login-btn")
        page.wait_for_selector("#app:not([hidden])")

        # a robot enrolls while we watch
        tok = admin.post("/enrollment-tokens", {"site_id": 1})["token"]
        enroll(srv.url, tok, "arm-1", tmp_path / "k", embodiment="arm7")
        page.wait_for_selector("#robots tr[data-robot='arm-1']", timeout=10_000)

        # a deployment rolls out: canary, then promoted from the dashboard
        pk = admin.upload_package(signed_package["path"], "pick-place", "1.0.0")
        admin.post("/deployments", {"package_id": pk["id"], "site_id": 1, "canary_percent": 50})
        page.wait_for_selector("tr.dep[data-state='canary']", timeout=10_000)
        page.click("tr.dep[data-state='canary'] button:has-text('promote')")
        page.wait_for_selector("tr.dep[data-state='promoted']", timeout=10_000)

        # the robot runs a field episode with a camera; the episode plays in the browser
        Agent(
            AgentConfig(
                server=srv.url,
                key_file=tmp_path / "k",
                work_dir=tmp_path / "agent",
                trusted_keys=[signed_package["pub"]],
                cameras=("scene",),
                max_steps=40,
            )
        ).run(1)
        page.wait_for_selector("#robots tr[data-robot='arm-1'] .on", timeout=10_000)
        page.wait_for_selector("#episodes button.play:not([disabled])", timeout=10_000)
        page.click("#episodes button.play")
        page.wait_for_selector("#player:not([hidden])")
        page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=10_000)
        assert page.evaluate("document.getElementById('video').duration") > 0
        assert page.locator("#trends svg.chart .series").count() >= 1
        browser.close()
