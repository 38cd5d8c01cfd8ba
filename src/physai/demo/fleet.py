"""Demo stage `fleet`: the fleet service on SQLite on a background thread, two enrolled simulated robots,
the demo package deployed (canary, then promoted), a few field episodes each, and the dashboard URL."""

from __future__ import annotations

import shutil
from pathlib import Path

from physai.core.errors import ConfigError
from physai.core.progress import Progress
from physai.demo.registry import stage


def _base_cameras(dataset: Path) -> tuple[tuple[str, ...], int]:
    """Cameras and image size of the `collect` stage's dataset, so field episodes can be merged with it by
    the flywheel; ("scene",) at 64 px without one."""
    import json

    info = dataset / "meta" / "info.json"
    if not info.exists():
        return ("scene",), 64
    feats = json.loads(info.read_text())["features"]
    pre = "observation.images."
    cams = {k[len(pre) :]: v["shape"][0] for k, v in feats.items() if k.startswith(pre)}
    return (tuple(sorted(cams)), int(next(iter(cams.values())))) if cams else ((), 64)


@stage("fleet", order=60)
def fleet_stage(out: Path, progress: Progress, episodes: int = 2, keep_running: bool = False) -> dict:
    """Serve, enroll `sim:tabletop/pick-place` x2, deploy the signed demo package, run field episodes.

    The package of the `package` stage is used when present; otherwise the reference controller is
    exported and signed here. With `keep_running` the server stays up (returned as `server`)."""
    from physai.deploy import signing
    from physai.deploy.package import ExportConfig, export_package
    from physai.deploy.reference import PickPlaceController, contract
    from physai.fleet.agent import Agent, AgentConfig, enroll
    from physai.fleet.client import FleetClient
    from physai.fleet.server import BackgroundServer
    from physai.fleet.service import FleetConfig

    root = out / "fleet"
    if root.exists():
        shutil.rmtree(root)
    pkg_dir, pub = out / "package" / "pick-place", out / "package" / "keys" / "physai.pub"
    if not (pkg_dir / "MANIFEST.sig").exists() or not pub.exists():
        priv, pub = signing.generate_keys(root / "keys")
        pkg_dir = root / "pick-place"
        export_package(
            PickPlaceController(), contract(), pkg_dir, sign_key=priv, config=ExportConfig(batched=False)
        )
    srv = BackgroundServer(
        FleetConfig(db_url=f"sqlite:///{root}/fleet.db", data_dir=root / "data", trusted_keys=[pub])
    ).start()
    if srv.admin_key is None:  # a fresh database always bootstraps an admin
        raise ConfigError(f"{root}/fleet.db already has an admin; remove {root} to run the fleet stage again")
    (root / "admin.key").write_text(srv.admin_key + "\n")
    (root / "admin.key").chmod(0o600)
    admin = FleetClient(srv.url, srv.admin_key)
    admin.post("/orgs", {"name": "demo"})
    site = admin.post("/sites", {"org_id": 1, "name": "lab", "carbon_g_per_kwh": 350})["id"]
    pk = admin.upload_package(pkg_dir, "pick-place", "1.0.0")
    dep = admin.post("/deployments", {"package_id": pk["id"], "site_id": site, "canary_percent": 50})
    admin.post(f"/deployments/{dep['id']}/promote")
    cameras, size = _base_cameras(out / "dataset")
    progress.start(2 * episodes, "fleet field episodes")
    robots = []
    for i in range(2):
        tok = admin.post("/enrollment-tokens", {"site_id": site})["token"]
        key = root / f"robot{i}.key"
        r = enroll(srv.url, tok, f"sim-arm-{i}", key, embodiment="arm7")
        rep = Agent(
            AgentConfig(
                server=srv.url,
                key_file=key,
                work_dir=root / f"agent{i}",
                trusted_keys=[pub],
                cameras=cameras,
                image_size=size,
                seed=100 * i,
                collaborative=False,  # a simulated cell with nobody in it: the normal speed limits
            )
        ).run(episodes)
        progress.advance(episodes)
        robots.append(
            {
                "robot_id": r["robot_id"],
                "success": [e["success"] for e in rep["episodes"]],
                "package": rep["package"]["version"] if rep["package"] else None,
            }
        )
    progress.close()
    eps = admin.get("/episodes")
    result = {
        # the stage's server stops with the stage; this serves the same database and dashboard again
        "dashboard_command": (
            f"physai fleet serve --db sqlite:///{root}/fleet.db --data-dir {root}/data --public-key {pub} "
            f"--admin-key-file {root}/admin.key"
        ),
        "admin_key_file": str((root / "admin.key").relative_to(out)),
        "robots": robots,
        "episodes_stored": len(eps),
        "deployment": dep["id"],
        "audit": admin.get("/audit/verify"),
        "database": "sqlite",
    }
    if keep_running:
        result["server"], result["dashboard_url"] = srv, srv.url + "/"
    else:
        srv.stop()
    return result
