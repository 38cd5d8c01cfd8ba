"""Hardware benchmark: profiler overhead, control rates sustained on CPU, ORT vs torch eager at batch 1.

- `overhead`: SingleStream on a no-op session (returns a preallocated array) = the profiler's own cost per
  timed call (target <= 20 us); and on ONNX Runtime with a one-node Identity graph (runtime call overhead).
- For each shipped policy (mlp, act, flow; default configs, arm7-sized state 28 / action 7, state only):
  export a package (cached under runs/bench/hardware/), then `run_profile` on ort:cpu and torch:cpu in the
  same run: p50/p99, the highest rate sustained at <= 0.1% deadline misses, and the batch-1 p50 ratio
  torch eager / ORT (target >= 2x). With --realtime the timed loops run under SCHED_FIFO (when permitted);
  the MLP is also profiled on ort:cpu without it, to show what scheduling does on a shared machine.

    .venv/bin/python bench/hardware.py [--duration 10] [--policies mlp,act,flow] [--realtime]

Writes bench/results/hardware.json (and the profile reports under runs/bench/hardware/).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from physai.hardware.profiler import ProfileConfig, run_profile, single_stream
from physai.hardware.stats import latency_summary

ROOT = Path("runs/bench/hardware")
RESULTS = Path(__file__).resolve().parent / "results" / "hardware.json"


class _Noop:
    def __init__(self) -> None:
        self.y = np.zeros((1, 4, 2), np.float32)

    def run(self, inputs):
        return self.y

    def warmup(self, inputs, n: int = 10) -> None:
        pass


def overhead(seconds: float) -> dict:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = [np.zeros((1, 8), np.float32)]
    noop = latency_summary(single_stream(_Noop(), x, seconds))
    g = helper.make_graph([helper.make_node("Identity", ["state"], ["actions"])], "noop",
                          [helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("actions", TensorProto.FLOAT, [1, 8])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    class S:
        def run(self, inputs):
            return sess.run(["actions"], {"state": inputs[0]})[0]

    ident = latency_summary(single_stream(S(), x, seconds))
    return {"noop_session": noop, "ort_identity": ident, "target_us": 20.0,
            "pass": noop["p50_us"] <= 20.0 and noop["mean_us"] <= 20.0}


def package_for(name: str) -> Path:
    from physai.deploy.package import ExportConfig, export_package
    from physai.policies import IOSpec, make_policy

    out = ROOT / "pkgs" / name
    if (out / "MANIFEST.json").exists():
        return out
    spec = IOSpec(embodiment="arm7", state_names=[f"s{i}" for i in range(28)],
                  action_names=[f"a{i}" for i in range(7)], fps=20.0, control="ee_delta")
    p = make_policy(name, [spec])
    export_package(p.export_module(), p.contract(), out, config=ExportConfig(batched=True, max_batch=64))
    return out


def summarize(doc: dict) -> dict:
    rows = {}
    for d in doc["devices"]:
        if d["status"] != "ok":
            rows[d["device"]] = {"error": d["error"]}
            continue
        rows[d["device"]] = {
            "p50_us": d["single_stream"]["p50_us"], "p99_us": d["single_stream"]["p99_us"],
            "max_sustained_hz": d["verdict"]["max_sustained_hz"],
            "max_sustained_hz_upper95": d["verdict"]["max_sustained_hz_upper95"],
            "scheduling": d["scheduling"]["policy"],
            "control_loop": {c["rate_hz"]: {"miss_rate": c["miss_rate"], "upper95": c["miss_rate_upper95"],
                                            "n": c["n"], "longest_streak": c["longest_miss_streak"]}
                             for c in d["control_loop"]},
            "chunked_dry_rate": {c["rate_hz"]: c["dry_rate"] for c in d["chunked"]},
            "energy": {k: d["energy"][k] for k in ("method", "j_per_inference", "g_co2e_per_hour")}}
    return {"devices": rows, "torch_over_ort_p50": (rows.get("torch:cpu", {}).get("p50_us", np.nan)
                                                    / rows.get("ort:cpu", {}).get("p50_us", np.nan))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--policies", default="mlp,act,flow")
    ap.add_argument("--rates", default="50,200,1000")
    ap.add_argument("--realtime", action="store_true")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    t0 = time.time()
    res: dict = {"load_average_start": list(os.getloadavg()), "duration_s": args.duration, "rates_hz": rates,
                 "realtime": args.realtime, "overhead": overhead(min(args.duration, 3.0)), "policies": {}}
    print("overhead", json.dumps(res["overhead"]["noop_session"]))
    for name in args.policies.split(","):
        pkg = package_for(name)
        cfg = ProfileConfig(devices=["ort:cpu", "torch:cpu"], rates_hz=rates, duration_s=args.duration,
                            batches=[1, 8, 64], realtime=args.realtime)
        doc = run_profile(pkg, cfg, ROOT / f"prof-{name}", allow_unsigned=True)
        res["policies"][name] = summarize(doc)
        print(name, json.dumps(res["policies"][name], default=str)[:600])
    if "mlp" in res["policies"] and args.realtime:
        cfg = ProfileConfig(devices=["ort:cpu"], rates_hz=[1000.0], duration_s=args.duration, batches=[1])
        doc = run_profile(package_for("mlp"), cfg, ROOT / "prof-mlp-no-rt", allow_unsigned=True)
        res["mlp_ort_cpu_1khz_without_realtime"] = summarize(doc)["devices"]["ort:cpu"]["control_loop"]
        print("mlp no-rt", res["mlp_ort_cpu_1khz_without_realtime"])
    res["system"] = doc["system"]
    res["load_average_end"] = list(os.getloadavg())
    res["seconds"] = round(time.time() - t0, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2, default=str))
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
