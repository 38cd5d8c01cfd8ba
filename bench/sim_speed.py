"""Simulation speed per registered task: env overhead vs. a bare mj_step loop, and render throughput.

For every task (the registry is iterated, so tasks added later are covered):
- `env_sps`: control steps/s of `PhysaiEnv.step` with state observations (default control mode,
  actions drawn up front so no policy cost is timed);
- `bare_sps`: the same compiled model and data stepped by `mujoco.mj_step(model, data, nstep=substeps)`
  with the very control sequence the env produced, in the same process, interleaved with the env
  rounds (the machine is shared and noisy; the ratio is what counts);
- `ratio = env_sps / bare_sps` (target >= 0.85 for the foundation tasks, >= 0.8 for the others);
- `render_fps`: 128x128 RGB frames/s per camera (target >= 400 on CPU).

    .venv/bin/python bench/sim_speed.py [--tasks all|suite:NAME|a,b] [--steps 200] [--json]

Writes bench/results/sim_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import physai
from physai.tasks import tasks_in

FOUNDATION = ("tabletop/pick-place", "tabletop/stack", "tabletop/push", "bimanual/handover",
              "bimanual/pack-mouse")
RESULTS = Path(__file__).resolve().parent / "results" / "sim_speed.json"


def _actions(env, n: int, seed: int) -> np.ndarray:
    """Small random actions around 'hold still' (ee_delta) or the home pose (joint modes)."""
    rng = np.random.default_rng(seed)
    spec = env.action_spec
    low, high = np.asarray(spec.low, float), np.asarray(spec.high, float)
    mid, half = (low + high) / 2, (high - low) / 2
    return (mid + 0.2 * half * rng.uniform(-1, 1, (n, len(low)))).astype(np.float32)


def measure_task(name: str, steps: int, rounds: int, render_frames: int, seed: int = 0) -> dict:
    import mujoco

    env = physai.make(name, obs=("state",), image_size=(128, 128))
    actions = _actions(env, steps, seed)
    m, d = env.model, env.data
    env_t, bare_t = [], []
    for _ in range(rounds):
        env.reset(seed=seed)
        ctrls = np.empty((steps, m.nu))
        t0 = time.perf_counter()
        for i in range(steps):
            env.step(actions[i])
            ctrls[i] = d.ctrl
        env_t.append(time.perf_counter() - t0)
        env.reset(seed=seed)
        ns = env.substeps
        t0 = time.perf_counter()
        for i in range(steps):
            d.ctrl[:] = ctrls[i]
            mujoco.mj_step(m, d, nstep=ns)
        bare_t.append(time.perf_counter() - t0)
    ratios = [b / e for e, b in zip(env_t, bare_t, strict=True)]
    out = {
        "task": name, "control": env.control, "substeps": env.substeps, "steps": steps, "rounds": rounds,
        "env_sps": steps / statistics.median(env_t), "bare_sps": steps / statistics.median(bare_t),
        "ratio": statistics.median(ratios),
        "target_ratio": 0.85 if name in FOUNDATION else 0.8,
        "render_fps": {},
    }
    env.reset(seed=seed)
    for cam in env.camera_names:
        env.render_camera(cam)  # warm-up: context creation and first upload
        t0 = time.perf_counter()
        for _ in range(render_frames):
            env.render_camera(cam)
        out["render_fps"][cam] = render_frames / (time.perf_counter() - t0)
    env.close()
    out["render_fps_min"] = min(out["render_fps"].values()) if out["render_fps"] else None
    out["ok"] = bool(out["ratio"] >= out["target_ratio"] and (out["render_fps_min"] or 0) >= 400)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="all", help="all, suite:NAME, or a comma-separated list")
    ap.add_argument("--steps", type=int, default=200, help="control steps per timed round")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved env/bare rounds (median taken)")
    ap.add_argument("--render-frames", type=int, default=200, help="frames per camera")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args(argv)
    rows = []
    for name in tasks_in(args.tasks):
        row = measure_task(name, args.steps, args.rounds, args.render_frames)
        rows.append(row)
        if not args.json:
            fps = ", ".join(f"{c} {v:.0f}" for c, v in row["render_fps"].items())
            print(f"{name:28s} env {row['env_sps']:7.0f} sps  bare {row['bare_sps']:7.0f} sps  "
                  f"ratio {row['ratio']:.3f} (target {row['target_ratio']})  render fps: {fps}",
                  file=sys.stderr)
    doc = {"bench": "sim_speed", "machine": platform.machine(), "python": platform.python_version(),
           "command": "bench/sim_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "tasks": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
