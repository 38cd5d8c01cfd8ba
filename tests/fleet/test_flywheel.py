"""One flywheel turn on a tiny dataset: field failures -> merged dataset -> retrain -> gate -> canary."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_flywheel_turn(tmp_path, signed_package) -> None:
    from physai.data.collect import CollectConfig, collect
    from physai.data.meta import DatasetMeta
    from physai.fleet.agent import Agent, AgentConfig, enroll
    from physai.fleet.client import FleetClient
    from physai.fleet.flywheel import FlywheelConfig, run_flywheel
    from physai.fleet.server import BackgroundServer
    from physai.fleet.service import FleetConfig
    from physai.train import TrainConfig, train

    task = "tabletop/pick-place"
    collect(CollectConfig(task=task, episodes=2, out=str(tmp_path / "base"), cameras=(), max_steps=120))
    train(
        [tmp_path / "base"],
        tmp_path / "runs" / "mlp",
        TrainConfig(policy="mlp", steps=10, batch_size=16, save_every=10, num_threads=1, device="cpu"),
    )
    cfg = FleetConfig(
        db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "data", trusted_keys=[signed_package["pub"]]
    )
    with BackgroundServer(cfg) as srv:
        admin = FleetClient(srv.url, srv.admin_key)
        admin.post("/orgs", {"name": "acme"})
        admin.post("/sites", {"org_id": 1, "name": "lab"})
        pk = admin.upload_package(signed_package["path"], "pick-place", "1.0.0")
        admin.post("/deployments", {"package_id": pk["id"], "site_id": 1})
        enroll(srv.url, admin.post("/enrollment-tokens", {"site_id": 1})["token"], "arm", tmp_path / "k")
        # short episodes time out: field failures
        Agent(
            AgentConfig(
                server=srv.url,
                key_file=tmp_path / "k",
                work_dir=tmp_path / "agent",
                trusted_keys=[signed_package["pub"]],
                max_steps=15,
            )
        ).run(2)
        fw = FlywheelConfig(
            fleet=srv.url,
            key=srv.admin_key,
            base_dataset=tmp_path / "base",
            policy=tmp_path / "runs" / "mlp",
            sign_key=signed_package["priv"],
            work_dir=tmp_path / "fw",
            task=task,
            steps=5,
            eval_episodes=2,
            canary_percent=25,
        )
        r = run_flywheel(fw)
        assert r["result"] == "deployed as canary", r
        assert r["steps"]["select"]["count"] == 2
        assert len(DatasetMeta(tmp_path / "fw" / "merged").episodes) == 4
        assert r["steps"]["retrain"]["to_step"] == r["steps"]["retrain"]["from_step"] + 5
        deps = admin.get("/deployments")
        assert deps[0]["state"] == "canary" and deps[0]["canary_percent"] == 25
        # resumable: a second run skips every finished step
        again = run_flywheel(fw)
        assert again["steps"] == r["steps"]
        log = [json.loads(x) for x in (tmp_path / "fw" / "flywheel.log").read_text().splitlines()]
        assert sum(e.get("event") == "skipped (already done)" for e in log) == 6
