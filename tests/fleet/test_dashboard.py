"""The dashboard as a newcomer meets it, in headless Chromium: the empty fleet lists the exact CLI commands
to run next (ticked off as they are done), and the trend charts have axes with ticks, axis titles with
units and a legend. Saves a screenshot (tmp_path/dashboard.png) to look at. Skips without Chromium."""

from __future__ import annotations

import datetime as dt


def test_empty_dashboard_says_what_next_and_charts_have_axes(tmp_path, signed_package, chromium_page) -> None:
    from physai.fleet.agent import enroll
    from physai.fleet.client import FleetClient
    from physai.fleet.server import BackgroundServer
    from physai.fleet.service import FleetConfig

    cfg = FleetConfig(
        db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "data", trusted_keys=[signed_package["pub"]]
    )
    page = chromium_page
    with BackgroundServer(cfg) as srv:
        page.goto(srv.url + "/")
        page.fill("#key", srv.admin_key)
        page.click("#login-btn")
        page.wait_for_selector("#next:not([hidden])")
        steps = page.locator("#next-steps li code").all_text_contents()
        assert steps[0] == "physai fleet site create lab-1"
        assert steps[1].startswith("physai fleet token create --site")
        assert "physai fleet package upload" in steps[2] and "physai fleet deployment create" in steps[3]
        assert page.locator("#next-steps li.done").count() == 0

        admin = FleetClient(srv.url, srv.admin_key)
        admin.post("/orgs", {"name": "acme"})
        admin.post("/sites", {"org_id": 1, "name": "lab"})
        page.wait_for_selector("#next-steps li.done")  # the site step is ticked, the next one names site 1
        page.wait_for_selector("#next-steps li code:has-text('physai fleet token create --site 1')")

        tok = admin.post("/enrollment-tokens", {"site_id": 1})["token"]
        enroll(srv.url, tok, "arm-1", tmp_path / "k", embodiment="arm7")
        robot = FleetClient(srv.url, (tmp_path / "k").read_text().strip())
        pk = admin.upload_package(signed_package["path"], "pick-place", "1.0.0")
        admin.post("/deployments", {"package_id": pk["id"], "site_id": 1})
        t = dt.datetime.now(dt.UTC).isoformat()
        robot.post("/telemetry", {"messages": [
            {"seq": i, "t": t, "outcome": "success" if i % 3 else "failure", "interventions": i % 2}
            for i in range(8)]})
        page.wait_for_selector("#next", state="hidden", timeout=10_000)  # all four steps done
        page.wait_for_selector("#trends svg.chart", timeout=10_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        charts = page.locator("#trends svg.chart")
        assert charts.count() == 2
        first = charts.nth(0)
        assert first.locator(".axis-x .tick").count() >= 2 and first.locator(".axis-y .tick").count() == 3
        assert first.locator(".axis-y .axis-label").text_content() == "success (%)"
        assert first.locator(".axis-y .tick").all_text_contents() == ["0%", "50%", "100%"]
        assert "episode" in first.locator(".axis-x .axis-label").text_content()
        assert "rolling mean of 5" in " ".join(first.locator(".legend .legend-text").all_text_contents())
        assert charts.nth(1).locator(".axis-y .axis-label").text_content() == "interventions (count)"
        box = first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150  # drawn, not collapsed
