"""Quadruped gait tracking and fall rate, and the dexterous-hand experts' success and contact forces.

- gait: the `quadruped` robot on flat ground in `base_velocity` mode; for each command the mean
  measured base velocity (heading frame) between t = 3 s and t = 8 s, relative error vs the command;
  the reference point is vx = 0.5 m/s (target: within 15%).
- patrol/inspect: the scripted experts over N seeded episodes; falls (trunk tipped past 60 degrees or
  below 0.15 m) counted separately from successes (target: no fall in 100 patrol episodes).
- dexterous: the scripted experts over N seeded episodes; for gentle-grasp also the peak contact normal
  force on the fragile object per episode (the break threshold is 5 N).

    .venv/bin/python bench/quadruped_hand.py [--episodes 100] [--json]

Writes bench/results/quadruped_hand.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

import physai
from physai.embodiments.quadruped import Quadruped
from physai.envs import run_episode
from physai.sim.scene import SceneConfig, new_scene

RESULTS = Path(__file__).resolve().parent / "results" / "quadruped_hand.json"
COMMANDS = (
    (0.25, 0, 0),
    (0.5, 0, 0),
    (0.8, 0, 0),
    (1.0, 0, 0),
    (-0.4, 0, 0),
    (0, 0.3, 0),
    (0.3, 0, 0.8),
    (0, 0, 1.0),
)


def gait_tracking(cmd: tuple[float, float, float], hz: float = 50.0, seconds: float = 8.0) -> dict:
    robot = Quadruped()
    spec = new_scene(SceneConfig(timestep=0.002))
    robot.build(spec)
    m = spec.compile()
    d = mujoco.MjData(m)
    robot.bind(m, d)
    robot.reset_pose(d)
    mujoco.mj_forward(m, d)
    sub = round(1 / (hz * m.opt.timestep))
    vel, min_up = [], 1.0
    for k in range(int(seconds * hz)):
        robot.apply_action(np.array(cmd, np.float32), "base_velocity", 1 / hz)
        mujoco.mj_step(m, d, nstep=sub)
        min_up = min(min_up, robot.upright())
        if k >= 3 * hz:
            v = robot.base_velocity()
            vel.append([v[0], v[1], v[3]])
    mean = np.mean(vel, axis=0)
    c = np.array(cmd, float)
    main = int(np.argmax(np.abs(c)))
    return {
        "command": list(cmd),
        "measured": [round(float(x), 4) for x in mean],
        "rel_error_main_axis": round(float(abs(mean[main] - c[main]) / abs(c[main])), 4),
        "min_upright": round(min_up, 3),
        "fell": bool(robot.fallen()),
    }


def experts(name: str, episodes: int) -> dict:
    env = physai.make(name)
    wins, falls, lengths, peaks = 0, 0, [], []
    t0 = time.perf_counter()
    for s in range(episodes):
        r = run_episode(env, env.expert(), seed=s)
        wins += r.success
        lengths.append(r.length)
        if hasattr(env.robot, "fallen"):
            falls += bool(env.robot.fallen())
        if hasattr(env.task, "peak_force"):
            peaks.append(env.task.peak_force)
    out = {
        "task": name,
        "episodes": episodes,
        "successes": wins,
        "falls": falls,
        "mean_length": round(float(np.mean(lengths)), 1),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if peaks:
        out["peak_force_n"] = {
            "max": round(float(np.max(peaks)), 3),
            "p95": round(float(np.percentile(peaks, 95)), 3),
            "median": round(float(np.median(peaks)), 3),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = {
        "gait": [gait_tracking(c) for c in COMMANDS],
        "experts": [
            experts(n, args.episodes)
            for n in (
                "quadruped/patrol",
                "quadruped/inspect",
                "dexterous/grasp-lift",
                "dexterous/gentle-grasp",
                "dexterous/turn-valve",
            )
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result))
    else:
        for g in result["gait"]:
            err = g["rel_error_main_axis"]
            print(f"gait cmd={g['command']} measured={g['measured']} err={err:.1%} fell={g['fell']}")
        for e in result["experts"]:
            print(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
