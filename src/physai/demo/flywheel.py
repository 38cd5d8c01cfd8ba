"""Demo stage `flywheel`: one turn of the data flywheel on demo-sized settings, on the fleet the `fleet`
stage left in `out/fleet`: its field episodes -> merged with the `collect` dataset -> the `train` stage's
policy retrained briefly -> evaluated against it with the compare gate -> exported, signed and deployed as
a canary (or stopped by the gate, which is reported as such)."""

from __future__ import annotations

import shutil
from pathlib import Path

from physai.core.errors import ConfigError
from physai.core.progress import Progress
from physai.demo.registry import stage


@stage("flywheel", order=70)
def flywheel_stage(
    out: Path,
    progress: Progress,
    task: str = "tabletop/pick-place",
    steps: int = 200,
    eval_episodes: int = 10,
    canary_percent: int = 50,
) -> dict:
    """Needs the `collect`, `train`, `package` (or its fallback keys) and `fleet` stages' outputs.

    The demo field robots run the signed reference controller, which succeeds, so every field episode is
    selected (`only_failures=False`): they are new expert demonstrations from the field."""
    from physai.fleet.client import FleetClient
    from physai.fleet.flywheel import Flywheel, FlywheelConfig
    from physai.fleet.server import BackgroundServer
    from physai.fleet.service import FleetConfig

    root = out / "fleet"
    policy = out / "train" / "mlp"
    keys = root / "keys" if (root / "keys" / "physai.key").exists() else out / "package" / "keys"
    need = [
        ("fleet", root / "fleet.db"),
        ("fleet", root / "admin.key"),
        ("train", policy / "checkpoint" / "config.json"),
        ("collect", out / "dataset" / "meta" / "info.json"),
        ("package", keys / "physai.key"),
    ]
    for st, path in need:
        if not path.exists():
            raise ConfigError(f"flywheel stage needs {path} from the {st!r} stage; run it first")
    work = out / "flywheel"
    shutil.rmtree(work, ignore_errors=True)
    srv = BackgroundServer(
        FleetConfig(
            db_url=f"sqlite:///{root}/fleet.db", data_dir=root / "data", trusted_keys=[keys / "physai.pub"]
        )
    ).start()
    try:
        cfg = FlywheelConfig(
            fleet=srv.url,
            key=(root / "admin.key").read_text().strip(),
            base_dataset=out / "dataset",
            policy=policy,
            sign_key=keys / "physai.key",
            work_dir=work,
            task=task,
            only_failures=False,
            steps=steps,
            eval_episodes=eval_episodes,
            canary_percent=canary_percent,
            version="1.1.0-fw1",
        )
        res = Flywheel(cfg, FleetClient(srv.url, cfg.key, timeout=120)).run(progress)
        robots = []
        for kf in sorted(root.glob("robot*.key")):
            a = FleetClient(srv.url, kf.read_text().strip()).get("/assignment")["assignment"]
            robots.append({"key_file": kf.name, "package": f"{a['name']} {a['version']}" if a else None})
    finally:
        srv.stop()
    st = res["steps"]
    dep = st.get("deploy", {})
    on = f"{dep.get('name')} {dep.get('version')}" if dep else "the candidate (not deployed)"
    ev = st.get("evaluate", {})
    return {
        "result": res["result"],
        "field_episodes": st.get("select", {}).get("count", 0),
        "merged_episodes": st.get("merge", {}).get("report", {}).get("episodes"),
        "retrain_steps": [st.get("retrain", {}).get("from_step"), st.get("retrain", {}).get("to_step")],
        "eval_episodes": eval_episodes,
        "current_score": ev.get("current"),
        "candidate_score": ev.get("candidate"),
        "regressed": ev.get("regressed"),
        "package": dep.get("version"),
        "deployment": dep.get("deployment_id"),
        "deployment_state": dep.get("state"),
        "robots_after": robots,
        "canary": f"{sum(r['package'] == on for r in robots)} of {len(robots)} robots run {on}",
        "log": str((work / "flywheel.log").relative_to(out)),
    }
