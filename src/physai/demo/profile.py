"""Demo stage `profile`: profile the package the `package` stage wrote on every available device (short
durations), and link the report."""

from __future__ import annotations

from pathlib import Path

from physai.core.progress import Progress
from physai.demo.registry import stage


@stage("profile", order=50)
def profile_stage(out: Path, progress: Progress, duration_s: float = 1.0) -> dict:
    """`out/package/pick-place` (signed; its key in `out/package/keys`) on every available device at the
    package rate, 100, 500 and 1000 Hz. Without a package stage, it exports the reference controller first."""
    from physai.deploy import signing
    from physai.hardware.discovery import list_devices
    from physai.hardware.profiler import ProfileConfig, run_profile

    root = out / "package"
    pkg = root / "pick-place"
    if not (pkg / signing.MANIFEST).exists():
        from physai.deploy.package import ExportConfig, export_package
        from physai.deploy.reference import contract, make_controller

        priv, _ = signing.generate_keys(root / "keys", overwrite=True)
        export_package(make_controller(), contract(), pkg, sign_key=priv, config=ExportConfig(max_batch=16))
    keys = signing.trusted_keys(root / "keys" / signing.PUBLIC_NAME)
    devices = [d["device"] for d in list_devices()["devices"] if d["available"]]
    packages = {"pick-place": pkg}
    if (root / "trained" / signing.MANIFEST).exists():
        packages["trained"] = root / "trained"
    result: dict = {"devices": devices, "packages": {}}
    for name, path in packages.items():
        from physai.deploy.package import load_package

        fps = load_package(path, keys).contract.control_hz
        cfg = ProfileConfig(
            devices=devices,
            rates_hz=sorted({fps, 100.0, 500.0, 1000.0}),
            duration_s=duration_s,
            batches=[1, 8],
            realtime=True,  # SCHED_FIFO where permitted, as a robot control process would run
        )
        doc = run_profile(path, cfg, out / "profile" / name, keys, progress=progress)
        rows = {}
        for d in doc["devices"]:
            if d["status"] != "ok":
                rows[d["device"]] = {"error": d["error"]}
                continue
            rows[d["device"]] = {
                "p50_us": round(d["single_stream"]["p50_us"], 1),
                "p99_us": round(d["single_stream"]["p99_us"], 1),
                "max_sustained_hz": d["verdict"]["max_sustained_hz"],
                "mj_per_inference": d["energy"]["j_per_inference"] * 1e3,
                "energy_method": d["energy"]["method"],
                "g_co2e_per_hour": d["energy"]["g_co2e_per_hour"],
            }
        result["packages"][name] = {
            "report": str(Path(doc["files"]["html"]).relative_to(out)),
            "devices": rows,
            "speedup_vs_torch_cpu": doc["comparisons"].get("speedup_vs_torch_cpu_p50"),
        }
    result["report"] = result["packages"]["pick-place"]["report"]
    return result
