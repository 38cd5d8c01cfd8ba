"""The robot agent end to end against a live service: package verified before use, telemetry and
episodes buffered on disk while the server is down and delivered exactly once when it returns."""

from __future__ import annotations

import shutil

from physai.fleet.agent import Agent, AgentConfig, enroll
from physai.fleet.client import FleetClient
from physai.fleet.server import BackgroundServer
from physai.fleet.service import FleetConfig


def test_agent_offline_buffering(tmp_path, signed_package) -> None:
    cfg = FleetConfig(
        db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "data", trusted_keys=[signed_package["pub"]]
    )
    srv = BackgroundServer(cfg).start()
    port = srv.port
    admin = FleetClient(srv.url, srv.admin_key)
    admin.post("/orgs", {"name": "acme"})
    admin.post("/sites", {"org_id": 1, "name": "lab"})
    pk = admin.upload_package(signed_package["path"], "pick-place", "1.0.0")
    admin.post("/deployments", {"package_id": pk["id"], "site_id": 1})
    tok = admin.post("/enrollment-tokens", {"site_id": 1})["token"]
    enroll(srv.url, tok, "arm-1", tmp_path / "arm-1.key", embodiment="arm7")
    acfg = AgentConfig(
        server=srv.url,
        key_file=tmp_path / "arm-1.key",
        work_dir=tmp_path / "agent",
        trusted_keys=[signed_package["pub"]],
        max_steps=60,
        timeout=2.0,
    )
    online = Agent(acfg).run(1)
    assert online["online"] and online["package"]["signed_by"] and online["pending_episodes"] == 0
    srv.stop()

    offline = Agent(acfg).run(2)  # server down: keeps working with the verified cached package
    assert not offline["online"]
    assert offline["pending_episodes"] == 2 and offline["pending_telemetry"] > 0
    pending_tel = offline["pending_telemetry"]

    srv2 = BackgroundServer(cfg, port=port).start()
    try:
        back = Agent(acfg).flush()
        assert back == {"telemetry_sent": pending_tel, "episodes_uploaded": 2, "online": True}
        admin = FleetClient(srv2.url, srv.admin_key)
        eps = admin.get("/episodes")
        assert len(eps) == 3 and all(e["frames"] > 0 for e in eps)
        # the stored dataset's task is the episode's instruction (as in collected datasets), not the task id
        from physai.data.meta import DatasetMeta

        stored = DatasetMeta(sorted((tmp_path / "data" / "episodes").iterdir())[0])
        assert stored.tasks and all(" " in t and "/" not in t for t in stored.tasks)
        tel = admin.get("/robots/1/telemetry", params={"limit": 100000})
        seqs = [m["seq"] for m in tel["messages"]]
        assert seqs == list(range(len(seqs))) and tel["count"] == len(seqs)  # none lost, none twice
        assert Agent(acfg).flush()["telemetry_sent"] == 0
    finally:
        srv2.stop()


def test_agent_refuses_tampered_package(tmp_path, signed_package) -> None:
    cfg = FleetConfig(
        db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "data", trusted_keys=[signed_package["pub"]]
    )
    with BackgroundServer(cfg) as srv:
        admin = FleetClient(srv.url, srv.admin_key)
        admin.post("/orgs", {"name": "acme"})
        admin.post("/sites", {"org_id": 1, "name": "lab"})
        pk = admin.upload_package(signed_package["path"], "pick-place", "1.0.0")
        admin.post("/deployments", {"package_id": pk["id"], "site_id": 1})
        tok = admin.post("/enrollment-tokens", {"site_id": 1})["token"]
        enroll(srv.url, tok, "arm-1", tmp_path / "k")
        # the stored package is changed on the server after upload: the robot must refuse it
        stored = tmp_path / "data" / "packages" / "pick-place-1.0.0" / "model.onnx"
        data = bytearray(stored.read_bytes())
        data[100] ^= 1
        stored.write_bytes(bytes(data))
        agent = Agent(
            AgentConfig(
                server=srv.url,
                key_file=tmp_path / "k",
                work_dir=tmp_path / "agent",
                trusted_keys=[signed_package["pub"]],
            )
        )
        agent.sync()
        assert agent.state["package"] is None and "refused package" in agent.events[0]
    shutil.rmtree(tmp_path / "agent")
