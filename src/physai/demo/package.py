"""Demo stage `package`: export and sign a policy package, verify it (and show a tampered copy being
refused), then run it through the real-time runtime in simulation with the safety supervisor."""

from __future__ import annotations

import shutil
from pathlib import Path

from physai.core.progress import Progress
from physai.demo.registry import stage


@stage("package", order=40)
def package_stage(out: Path, progress: Progress, episodes: int = 3) -> dict:
    """Reference pick-place controller -> signed package -> verify -> runtime (1 real-time episode,
    then `episodes` as-fast-as-possible episodes). A trained checkpoint found under `out/train` is
    exported and verified too."""
    from physai.core.errors import PackageError
    from physai.deploy import signing
    from physai.deploy.drivers.sim import sim_driver_for
    from physai.deploy.package import ExportConfig, export_checkpoint, export_package, load_package
    from physai.deploy.reference import TASK, contract, make_controller
    from physai.deploy.runtime import Runtime, RuntimeConfig
    from physai.deploy.safety import SupervisorConfig

    root = out / "package"
    if root.exists():
        shutil.rmtree(root)
    priv, pub = signing.generate_keys(root / "keys")
    keys = signing.trusted_keys(pub)
    exp = export_package(
        make_controller(),
        contract(),
        root / "pick-place",
        sign_key=priv,
        config=ExportConfig(batched=True, max_batch=16),
        progress=progress,
    )
    pkg = load_package(root / "pick-place", keys)
    tampered = root / "tampered"
    shutil.copytree(root / "pick-place", tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 1
    (tampered / "model.onnx").write_bytes(bytes(data))
    try:
        load_package(tampered, keys)
        refusal = "NOT REFUSED"
    except PackageError as exc:
        refusal = str(exc)
    shutil.rmtree(tampered)

    progress.start(episodes + 1, "runtime")
    sup = SupervisorConfig(log_path=root / "safety.jsonl")
    live = Runtime(
        pkg, sim_driver_for(pkg.contract, TASK, seed=1, max_steps=300), RuntimeConfig(supervisor=sup)
    ).run()
    progress.advance(1)
    runs = []
    for seed in range(episodes):
        r = Runtime(
            pkg,
            sim_driver_for(pkg.contract, TASK, seed=seed, realtime=False, max_steps=300),
            RuntimeConfig(realtime=False, supervisor=sup),
        ).run()
        runs.append({"seed": seed, "success": r["success"], "cycles": r["cycles"], "safety": r["safety"]})
        progress.advance(1, success=sum(x["success"] for x in runs) / len(runs))
    progress.close()
    result = {
        "package": str((root / "pick-place").relative_to(out)),
        "signed_by": pkg.signed_by,
        "parity_max_abs_diff": exp["parity"]["max_abs_diff"],
        "tamper_refusal": refusal,
        "realtime_episode": {
            "success": live["success"],
            "cycles": live["cycles"],
            "timing": live["timing"],
            "safety": live["safety"],
        },
        "episodes": runs,
        "success_rate": sum(r["success"] for r in runs) / max(len(runs), 1),
        "policy": "reference controller (hand-written torch module, not learned)",
    }
    trained = sorted((out / "train").glob("**/checkpoint/config.json")) if (out / "train").exists() else []
    if trained:
        ck = trained[0].parent
        rep = export_checkpoint(ck, root / "trained", sign_key=priv, config=ExportConfig(batched=False))
        tpkg = load_package(root / "trained", keys)
        result["trained"] = {
            "checkpoint": str(ck),
            "parity_max_abs_diff": rep["parity"]["max_abs_diff"],
            "verified": True,
        }
        task = tpkg.policy.get("env_task")
        if task and not any(i["name"] not in ("state", "rtc_prefix", "rtc_weights") for i in tpkg.inputs):
            # The trained policy through the runtime, in both supervisor modes. It learned from
            # demonstrations at normal speed; under the 250 mm/s collaborative cap it sees states it was
            # never shown and usually runs out of time, which is worth seeing before a robot meets people.
            for mode, collab in (("normal_speed", False), ("collaborative", True)):
                mode_sup = SupervisorConfig(collaborative=collab, log_path=root / f"safety-{mode}.jsonl")
                wins = 0
                for seed in range(episodes):
                    r = Runtime(
                        tpkg,
                        sim_driver_for(
                            tpkg.contract, task, seed=100_000 + seed, realtime=False, max_steps=400
                        ),
                        RuntimeConfig(realtime=False, supervisor=mode_sup),
                    ).run()
                    wins += r["success"]
                result["trained"][f"runtime_success_rate_{mode}"] = wins / episodes
            result["trained"].update(task=task, runtime_episodes=episodes)
    return result
