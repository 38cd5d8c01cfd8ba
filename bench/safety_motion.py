"""Adversarial motion suite for the safety supervisor (issue #17): does it bound the *measured* motion?

Every case drives a `SimDriver` (realtime=False) through a supervisor, on `arm7`, `bimanual` and the
`humanoid-upper` (a pick task of each), at 20 / 50 / 100 Hz, collaborative and normal speed:

- ee_delta: pure rotation at the action bound; rotation and full-twist sign flips every step; uniform
  random twists; pushes into each face of a workspace box 0.2 m around the home TCPs; a push past the
  reach limit inside the robot's own box; a blocked arm (joint damping x1e5 for 1 s) that is released;
- joint_pos: far targets (alternating joint limits every second); sign flips every step; a blocked
  arm released; a start inside the margin (`joint_margin` 0.1, two joints 0.02 rad from their
  limits) and a start beyond a joint limit (0.05 rad past it; the simulator's limit constraint pushes
  that joint back by itself, so its peak is reported but not held to the bound).

The other control modes (issue #17), same rates where the robot runs them:
- `hand16` on `dexterous/grasp-lift`, ee_delta (wrist joint increments + finger joints), 20 / 50 / 100
  Hz: rotation channels at the bound, rotation and full-wrist sign flips every step, uniform random
  actions, pushes into each face of a box 0.1 m around the home palm and fingertips, finger joints
  alternating between their limits every second (`fingers_far`); measured: the peak speed of the palm
  and the four fingertips per physics substep, the robot's commanded frames (FK of its own wrist
  command and finger targets) outside the box, finger targets past their limits;
- `quadruped` on `quadruped/patrol`, base_velocity, 50 / 100 Hz: every channel at its upper / lower
  bound, vx and vy at the bound, sign flips every step, random commands, pushes at the bounds in a
  world direction (+-x, +-y, diagonal) out of a box 0.5 m around the start; measured: the peak travel
  speed (displacement over `base_speed_window`, gated), the peak instantaneous planar trunk speed per
  substep (the stride's surge and sway; reported, not gated), steps with the supervisor's integrated
  commanded base position outside the box, the measured base's largest excursion past the box.
The original supervisor refuses both (its answer is recorded per case as `refused`).

Measured: the peak TCP speed from MuJoCo (finite difference of the TCP sites every physics substep,
via `mjcb_control`; the per-control-period peak too) as a multiple of the cap; workspace exits of the
robot's *commanded* TCP (the pose its ee_delta controller steers to, or FK of its joint targets); the
commanded joint steps above the velocity limit in the start case; how the supervisor ended. Each case
runs against the original supervisor (`git show ece7a05:src/physai/deploy/safety.py`, loaded as a
module) and the current one. Also: the supervisor's cost per cycle (µs, new / old) and the runtime's
deadline-miss rate at 500 Hz and 1 kHz (realtime=True, a trivial policy, a physics-free kinematic arm).

    PYTHONPATH=src MUJOCO_GL=egl python bench/safety_motion.py            # full, ~2 min on 2 cores
    PYTHONPATH=src MUJOCO_GL=egl python bench/safety_motion.py --quick    # smoke test, ~30 s
    PYTHONPATH=src MUJOCO_GL=egl python bench/safety_motion.py --robots hand16,quadruped \
        --out bench/results/safety_motion_modes.json                        # the other modes only

Writes bench/results/safety_motion[_quick].json and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from itertools import product
from pathlib import Path

import mujoco
import numpy as np

from physai.core.contract import Execution, PolicyContract
from physai.deploy import runtime as rt_mod
from physai.deploy.drivers.base import DriverInfo, Reading
from physai.deploy.drivers.sim import SimDriver
from physai.deploy.runtime import Runtime, RuntimeConfig, make_supervisor
from physai.deploy.safety import RobotState, SupervisorConfig
from physai.embodiments import make_embodiment

BASELINE_COMMIT = "ece7a05"
ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "arm7": "tabletop/pick-place",
    "bimanual": "bimanual/handover",
    "humanoid": "humanoid/pick-apple-plate-to-bowl",
}
# horizontal direction past the reach limit, per end effector (away from each arm's base)
REACH = {"arm7": [[1, 0, 0]], "bimanual": [[0, 1, 0], [0, -1, 0]], "humanoid": [[1, 0.3, 0], [1, -0.3, 0]]}
EE_CASES = ["rotation", "rotation_flip", "flip", "random", *(f"face{s}{a}" for a in "xyz" for s in "+-"),
            "reach", "blocked"]
JOINT_CASES = ["far_targets", "flip", "blocked", "start_margin", "start_beyond"]
# a joint started beyond its hard limit is pushed back by the simulator's limit constraint and the
# robot's own servo clamp, not by any command: reported, not held to the speed bound
PHYSICS_DRIVEN = {"start_beyond"}
SECONDS = {"reach": 3.0, "far_targets": 3.0, "blocked": 2.0}  # sim time per case (default 1.5 s)
BOX_HALF = 0.2  # m: the face cases' workspace box around the home TCPs
# the other control modes (issue #17): the dexterous hand's ee_delta (wrist joint increments + finger
# joints) and the quadruped's base_velocity
MODE_TASKS = {"hand16": "dexterous/grasp-lift", "quadruped": "quadruped/patrol"}
HAND_CASES = ["rotation", "rotation_flip", "flip", "random", *(f"face{s}{a}" for a in "xyz" for s in "+-"),
              "fingers_far"]
HAND_BOX_HALF = 0.1  # m around the home palm and fingertips: the -z face stays above the table
QUAD_CASES = ["max", "max_reverse", "diag", "flip", "random", *(f"push{s}{a}" for a in "xy" for s in "+-"),
              "push_diag"]
QUAD_BOX_HALF = 0.5  # m around the start position
MODE_SECONDS = {"hand16": 2.0, "quadruped": 4.0}


# ---------------------------------------------------------------------------------------------- baseline
def load_baseline():
    """The original supervisor class, from git, with the current call signature."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:src/physai/deploy/safety.py"],
        capture_output=True, text=True, check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "safety_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("safety_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["safety_baseline"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)

    class Baseline(mod.SafetySupervisor):
        def filter(self, action, state, dt=None):  # the old one has a fixed dt
            return super().filter(action, state)

        def fault(self, rule, detail):
            self._latch(rule, detail)

    return Baseline


def make_sup(variant: str, baseline_cls, info: DriverInfo, hz: float, cfg: SupervisorConfig, limits=None):
    lim = limits or info.safety_limits
    if variant == "old":
        old_cfg = dict(collaborative=cfg.collaborative, joint_margin=cfg.joint_margin)
        return baseline_cls(lim, info.control, 1.0 / hz, info.action_names, info.action_low, info.action_high,
                            _old_config(baseline_cls, **old_cfg))
    return make_supervisor(replace(info, safety_limits=lim), 1.0 / hz, cfg)


def _old_config(baseline_cls, **kw):
    mod = sys.modules[baseline_cls.__mro__[1].__module__]
    return mod.SupervisorConfig(**kw)


# ---------------------------------------------------------------------------------------------- measuring
class SubstepProbe:
    """Peak speed of the TCP sites over every physics substep (MuJoCo's control callback)."""

    def __init__(self, data: mujoco.MjData, sites: list[int]) -> None:
        self.d, self.sites = data, np.array(sites)
        self.prev: np.ndarray | None = None
        self.t = 0.0
        self.peak = 0.0

    def __call__(self, m: mujoco.MjModel, d: mujoco.MjData) -> None:
        if d is not self.d:
            return
        p = d.site_xpos[self.sites]
        if self.prev is not None and d.time > self.t:
            v = float(np.linalg.norm(p - self.prev, axis=1).max()) / (d.time - self.t)
            self.peak = max(self.peak, v)
        self.prev, self.t = p.copy(), d.time


def commanded_tcp(robot, mode: str, kin, joint_names) -> np.ndarray | None:
    """The TCP positions the robot is steering to: its ee_delta commanded pose, or FK of its joint
    targets (joint_pos)."""
    name = robot.name
    if name == "arm7":
        arms = [robot]
    elif name == "bimanual":
        arms = [robot.left, robot.right]
    else:
        arms = [robot.arms["left"], robot.arms["right"]]
    if mode == "ee_delta":
        poses = [a._pose_cmd for a in arms]
        return None if any(p is None for p in poses) else np.stack([p[0] for p in poses])
    q = np.concatenate(([robot.waist_cmd] if name == "humanoid-upper" else []) + [a.q_cmd for a in arms])
    return kin.points(q)[:, 0]


def reset_driver(drv: SimDriver) -> None:
    drv._obs, _ = drv.env.reset(seed=0)
    drv._info, drv._done = {"is_success": False}, False


def action_for(case: str, t: int, hz: float, info: DriverInfo, rng: np.random.Generator, home_q, reach_dirs,
               face_dir) -> np.ndarray:
    lo, hi, names = info.action_low.astype(float), info.action_high.astype(float), info.action_names
    a = np.clip(np.zeros(len(names)), lo, hi)
    if info.control == "ee_delta":
        rot = np.array([n.endswith(("ee.drx", "ee.dry", "ee.drz")) for n in names])
        lin = np.array([n.endswith(("ee.dx", "ee.dy", "ee.dz")) for n in names])
        if case == "rotation":
            a[rot] = hi[rot]
        elif case == "rotation_flip":
            a[rot] = hi[rot] if t % 2 else lo[rot]
        elif case == "flip":
            a[lin | rot] = (hi if t % 2 else lo)[lin | rot]
        elif case == "random":
            a = rng.uniform(lo, hi)
        elif case.startswith("face") or case in ("reach", "blocked"):
            idx = np.flatnonzero(lin).reshape(-1, 3)
            for k, g in enumerate(idx):
                down = [0.0, 0.0, -1.0]
                d = face_dir if case.startswith("face") else (reach_dirs[k] if case == "reach" else down)
                d = np.asarray(d, float) / np.linalg.norm(d)
                a[g] = hi[g] * d
        return a
    jn = [i for i, n in enumerate(names) if "gripper" not in n]
    period = max(int(hz), 1)
    if case == "far_targets":
        a[jn] = (hi if (t // period) % 2 == 0 else lo)[jn]
    elif case == "flip":
        a[jn] = (hi if t % 2 else lo)[jn]
    elif case == "blocked":
        a[jn] = np.clip(home_q + 0.8, lo[jn], hi[jn])
    else:  # start_margin / start_beyond: hold where it starts
        a[jn] = home_q
    return a


def run_case(
    drv: SimDriver, info: DriverInfo, robot_key: str, case: str, hz: float, collab: bool, variant: str,
    baseline_cls, seconds: float, costs: dict,
) -> dict:
    env = drv.env
    reset_driver(drv)
    m, d, robot = env.model, env.data, env.robot
    lim = info.safety_limits
    kin = info.kinematics
    home_tcp = kin.points(drv.read().robot.joint_pos)[:, 0]
    limits = lim
    face_dir = None
    if case.startswith("face"):
        lo_b = np.maximum(home_tcp.min(axis=0) - BOX_HALF, lim.workspace_low)
        hi_b = np.minimum(home_tcp.max(axis=0) + BOX_HALF, lim.workspace_high)
        limits = replace(lim, workspace_low=lo_b, workspace_high=hi_b)
        face_dir = np.zeros(3)
        face_dir["xyz".index(case[-1])] = 1.0 if case[-2] == "+" else -1.0
    start = case.startswith("start")
    margin = 0.1 if start else 0.0
    qadr = drv._qadr
    if start:  # two joints near (margin) or past (beyond) their limits
        q0 = d.qpos[qadr].copy()
        j_hi, j_lo = len(qadr) - 4, len(qadr) - 7
        q0[j_hi] = lim.joint_pos_upper[j_hi] + (0.05 if case == "start_beyond" else -0.02)
        q0[j_lo] = lim.joint_pos_lower[j_lo] + 0.02
        d.qpos[qadr] = q0
        for j, name in enumerate(lim.joint_names):
            d.ctrl[m.actuator(name).id] = q0[j]
        mujoco.mj_forward(m, d)
    home_q = d.qpos[qadr].copy()
    cfg = SupervisorConfig(collaborative=collab, joint_margin=margin)
    sup = make_sup(variant, baseline_cls, info, hz, cfg, limits)
    cap = sup.ee_cap
    sites = [m.site(s).id for s, _ in robot.tcp_frames()]
    probe = SubstepProbe(d, sites)
    rng = np.random.default_rng(0)
    dofs = np.array([m.jnt_dofadr[m.joint(j).id] for j in lim.joint_names])
    damping = m.dof_damping.copy()
    n = int(round(seconds * hz))
    r = drv.read()
    sup.start(r.robot)
    sup.enable()
    prev_cmd_q = r.robot.joint_pos.copy()
    jidx = [info.action_names.index(j) for j in lim.joint_names] if info.control == "joint_pos" else []
    exits, exit_max, vel_steps, peak_period = 0, 0.0, 0, 0.0
    ee_prev = r.robot.ee_pos.copy()
    spent = 0.0
    mujoco.set_mjcb_control(probe)
    try:
        for t in range(n):
            if case == "blocked":
                m.dof_damping[dofs] = damping[dofs] * 1e5 if t < n // 2 else damping[dofs]
            r = drv.read()
            a = action_for(case, t, hz, info, rng, home_q[: len(jidx)] if jidx else None, REACH[robot_key],
                           face_dir)
            t0 = time.perf_counter()
            cmd = sup.filter(a, r.robot)
            spent += time.perf_counter() - t0
            drv.write(cmd)
            ee = drv.read().robot.ee_pos
            peak_period = max(peak_period, float(np.linalg.norm(ee - ee_prev, axis=1).max()) * hz)
            ee_prev = ee.copy()
            tgt = commanded_tcp(robot, info.control, kin, lim.joint_names)
            if tgt is not None:
                out = np.maximum(np.maximum(limits.workspace_low - tgt, tgt - limits.workspace_high), 0).max()
                exits += bool(out > 1e-6)
                exit_max = max(exit_max, float(out))
            if jidx and start and t < hz:
                q = np.asarray(cmd, float)[jidx]
                vel_steps += bool(np.any(np.abs(q - prev_cmd_q) * hz > lim.joint_vel_max * (1 + 1e-4)))
                prev_cmd_q = q
    finally:
        mujoco.set_mjcb_control(None)
        m.dof_damping[:] = damping
    key = (info.control, variant)
    costs.setdefault(key, [0.0, 0])
    costs[key][0] += spent
    costs[key][1] += n
    return {
        "robot": robot_key, "mode": info.control, "case": case, "hz": hz,
        "speed": "collaborative" if collab else "normal", "variant": variant, "cap": cap,
        "peak_substep": probe.peak / cap, "peak_period": peak_period / cap,
        "commanded_exits": exits, "commanded_exit_max_m": exit_max, "start_vel_violations": vel_steps,
        "state": sup.state, "stop_reason": sup.stop_reason,
    }


# ---------------------------------------------------------------------------------------------- other modes
def try_old(baseline_cls, info: DriverInfo, hz: float, cfg: SupervisorConfig, limits) -> str | None:
    """The original supervisor's answer to this robot and mode: None if it accepts it, else its error."""
    try:
        make_sup("old", baseline_cls, info, hz, cfg, limits)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:160]
    return None


def hand_action(case: str, t: int, hz: float, info: DriverInfo, rng: np.random.Generator) -> np.ndarray:
    lo, hi = info.action_low.astype(float), info.action_high.astype(float)
    a = np.clip(np.zeros(len(lo)), lo, hi)
    rot, lin, fing = np.arange(len(lo)) // 3 == 1, np.arange(len(lo)) < 3, np.arange(len(lo)) >= 6
    if case == "rotation":
        a[rot] = hi[rot]
    elif case == "rotation_flip":
        a[rot] = (hi if t % 2 else lo)[rot]
    elif case == "flip":
        a[lin | rot] = (hi if t % 2 else lo)[lin | rot]
    elif case == "random":
        a = rng.uniform(lo, hi)
    elif case.startswith("face"):
        k = "xyz".index(case[-1])
        a[k] = hi[k] if case[-2] == "+" else lo[k]
    elif case == "fingers_far":  # finger joints alternating between their limits every second
        a[fing] = (hi if (t // max(int(hz), 1)) % 2 == 0 else lo)[fing]
    return a


def run_hand_case(drv: SimDriver, info: DriverInfo, case: str, hz: float, collab: bool, baseline_cls,
                  seconds: float, costs: dict) -> tuple[dict, dict]:
    env = drv.env
    reset_driver(drv)
    m, d, robot = env.model, env.data, env.robot
    kin, lim = info.kinematics, info.safety_limits
    r = drv.read()
    home = r.robot.ee_pos
    limits = lim
    if case.startswith("face"):
        limits = replace(lim, workspace_low=home.min(0) - HAND_BOX_HALF,
                         workspace_high=home.max(0) + HAND_BOX_HALF)
    cfg = SupervisorConfig(collaborative=collab)
    base = {"robot": "hand16", "mode": info.control, "case": case, "hz": hz,
            "speed": "collaborative" if collab else "normal"}
    old = {**base, "variant": "old", "refused": try_old(baseline_cls, info, hz, cfg, limits)}
    sup = make_sup("new", baseline_cls, info, hz, cfg, limits)
    cap = sup.ee_cap
    probe = SubstepProbe(d, [m.site(s_).id for s_, _ in robot.tcp_frames()])
    rng = np.random.default_rng(0)
    n = int(round(seconds * hz))
    sup.start(r.robot)
    sup.enable()
    exits, exit_max, finger_out, peak_period, spent = 0, 0.0, 0, 0.0, 0.0
    ee_prev = r.robot.ee_pos.copy()
    mujoco.set_mjcb_control(probe)
    try:
        for t in range(n):
            rs = drv.read().robot
            a = hand_action(case, t, hz, info, rng)
            t0 = time.perf_counter()
            cmd = sup.filter(a, rs)
            spent += time.perf_counter() - t0
            drv.write(cmd)
            ee = drv.read().robot.ee_pos
            peak_period = max(peak_period, float(np.linalg.norm(ee - ee_prev, axis=1).max()) * hz)
            ee_prev = ee.copy()
            q_cmd = np.concatenate([robot.wrist_cmd, d.ctrl[robot.finger_act]])
            tgt = kin.points(q_cmd)[:, 0]
            out = np.maximum(np.maximum(limits.workspace_low - tgt, tgt - limits.workspace_high), 0).max()
            exits += bool(out > 1e-6)
            exit_max = max(exit_max, float(out))
            finger_out += bool(np.any(q_cmd < lim.joint_pos_lower - 1e-6)
                               or np.any(q_cmd > lim.joint_pos_upper + 1e-6))
    finally:
        mujoco.set_mjcb_control(None)
    key = ("hand16/ee_delta", "new")
    costs.setdefault(key, [0.0, 0])
    costs[key][0] += spent
    costs[key][1] += n
    new = {**base, "variant": "new", "refused": None, "cap": cap, "peak_substep": probe.peak / cap,
           "peak_period": peak_period / cap, "commanded_exits": exits, "commanded_exit_max_m": exit_max,
           "joint_limit_violations": finger_out, "state": sup.state, "stop_reason": sup.stop_reason,
           "interventions": sup.summary()["interventions"]}
    return old, new


def quad_action(case: str, t: int, info: DriverInfo, rng: np.random.Generator, yaw: float) -> np.ndarray:
    lo, hi = info.action_low.astype(float), info.action_high.astype(float)
    a = np.clip(np.zeros(len(lo)), lo, hi)
    if case == "max":
        a[:3] = hi[:3]
    elif case == "max_reverse":
        a[:3] = lo[:3]
    elif case == "diag":
        a[:2] = hi[:2]
    elif case == "flip":
        a[:3] = (hi if t % 2 else lo)[:3]
    elif case == "random":
        a[:3] = rng.uniform(lo[:3], hi[:3])
    else:  # push: a world direction at the bounds, turned into the heading frame every step
        w = {"push+x": (1, 0), "push-x": (-1, 0), "push+y": (0, 1), "push-y": (0, -1),
             "push_diag": (1, 1)}[case]
        c, s_ = np.cos(yaw), np.sin(yaw)
        b = np.array([c * w[0] + s_ * w[1], -s_ * w[0] + c * w[1]])
        a[:2] = np.clip(b / np.abs(b).max() * np.where(b > 0, hi[:2], -lo[:2]), lo[:2], hi[:2])
    return a


def run_quad_case(drv: SimDriver, info: DriverInfo, case: str, hz: float, collab: bool, baseline_cls,
                  seconds: float, costs: dict) -> tuple[dict, dict]:
    env = drv.env
    reset_driver(drv)
    d, robot = env.data, env.robot
    lim = info.safety_limits
    r = drv.read()
    p0 = r.robot.base_pose[:2].copy()
    limits = lim
    if case.startswith("push"):
        limits = replace(lim, base_workspace_low=p0 - QUAD_BOX_HALF, base_workspace_high=p0 + QUAD_BOX_HALF)
    cfg = SupervisorConfig(collaborative=collab)
    base = {"robot": "quadruped", "mode": info.control, "case": case, "hz": hz,
            "speed": "collaborative" if collab else "normal"}
    old = {**base, "variant": "old", "refused": try_old(baseline_cls, info, hz, cfg, limits)}
    sup = make_sup("new", baseline_cls, info, hz, cfg, limits)
    cap = sup.base_cap
    rq, rv = robot.root_q, robot.root_v
    inst = {"peak": 0.0}

    def probe(model, data):  # every physics substep: planar trunk speed
        if data is d:
            inst["peak"] = max(inst["peak"], float(np.hypot(*data.qvel[rv : rv + 2])))

    rng = np.random.default_rng(0)
    n = int(round(seconds * hz))
    sup.start(r.robot)
    sup.enable()
    pos, exits, yaw_over, spent = [], 0, 0, 0.0
    mujoco.set_mjcb_control(probe)
    try:
        for t in range(n):
            rs = drv.read().robot
            a = quad_action(case, t, info, rng, float(rs.base_pose[2]))
            t0 = time.perf_counter()
            cmd = sup.filter(a, rs)
            spent += time.perf_counter() - t0
            drv.write(cmd)
            yaw_over += bool(abs(float(cmd[2])) > lim.base_yaw_rate_max * (1 + 1e-6))
            pos.append(d.qpos[rq : rq + 2].copy())
            if limits.base_workspace_low is not None:
                bp = sup._bp
                exits += bool(np.any(bp < limits.base_workspace_low - 1e-9)
                              or np.any(bp > limits.base_workspace_high + 1e-9))
    finally:
        mujoco.set_mjcb_control(None)
    pos = np.array(pos)
    win = lim.base_speed_window
    k = int(round(win * hz))
    travel = float((np.linalg.norm(pos[k:] - pos[:-k], axis=1) / win).max()) if len(pos) > k else 0.0
    meas_exit = 0.0
    if limits.base_workspace_low is not None:
        lo_b, hi_b = limits.base_workspace_low, limits.base_workspace_high
        meas_exit = float(np.maximum(np.maximum(lo_b - pos, pos - hi_b), 0).max())
    key = ("quadruped/base_velocity", "new")
    costs.setdefault(key, [0.0, 0])
    costs[key][0] += spent
    costs[key][1] += n
    new = {**base, "variant": "new", "refused": None, "cap": cap, "peak_travel": travel / cap,
           "peak_substep": inst["peak"] / cap, "commanded_exits": exits, "measured_exit_max_m": meas_exit,
           "yaw_rate_over_cap": yaw_over, "fallen": bool(robot.fallen()), "state": sup.state,
           "stop_reason": sup.stop_reason, "interventions": sup.summary()["interventions"]}
    return old, new


def run_modes(robots: list[str], rates: dict, baseline_cls, costs: dict, quick: bool) -> list[dict]:
    rows = []
    for robot_key in robots:
        mode = "ee_delta" if robot_key == "hand16" else "base_velocity"
        cases = HAND_CASES if robot_key == "hand16" else QUAD_CASES
        if quick:
            cases = cases[:3] + cases[-2:]
        runner = run_hand_case if robot_key == "hand16" else run_quad_case
        for hz in rates[robot_key]:
            drv = SimDriver(MODE_TASKS[robot_key], control=mode, hz=hz, realtime=False, max_steps=10**9)
            info = drv.connect()
            try:
                for case in cases:
                    for collab in (True, False):
                        old, new = runner(drv, info, case, hz, collab, baseline_cls, MODE_SECONDS[robot_key],
                                          costs)
                        rows += [old, new]
                        print(_mode_line(new, old), flush=True)
            finally:
                drv.disconnect()
    return rows


def _mode_line(n: dict, o: dict) -> str:
    before = "refused" if o["refused"] else "accepted"
    stop = f" ({n['stop_reason'][:50]})" if n["stop_reason"] else ""
    peak = (f"travel {n['peak_travel']:4.2f} inst {n['peak_substep']:4.2f}" if n["robot"] == "quadruped"
            else f"peak {n['peak_substep']:4.2f}")
    return (f"{n['robot']:9s} {n['mode']:13s} {n['case']:13s} {n['hz']:5.0f} Hz {n['speed'][:6]:6s} "
            f"before {before}; after {peak} x cap, cmd exits {n['commanded_exits']}  {n['state']}{stop}")


def table_modes(rows: list[dict]) -> str:
    """Markdown for the hand and the quadruped: before (the original supervisor's answer) and after,
    the peak per rate in collaborative mode and the worst rate in normal mode."""
    new = [r for r in rows if r["variant"] == "new"]
    olds = {(r["robot"], r["case"], r["hz"], r["speed"]): r for r in rows if r["variant"] == "old"}
    out = []
    for robot in ("hand16", "quadruped"):
        mine = [r for r in new if r["robot"] == robot]
        if not mine:
            continue
        rates = sorted({r["hz"] for r in mine})
        metric = "peak_travel" if robot == "quadruped" else "peak_substep"
        head = ["robot", "mode", "case", "before", *(f"{h:.0f} Hz collab" for h in rates),
                "normal (worst rate)"]
        head += (["inst. trunk peak (ungated)", "cmd base exits", "measured exit (m)"] if robot == "quadruped"
                 else ["cmd exits", "finger targets past limits"])
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        cases = HAND_CASES if robot == "hand16" else QUAD_CASES
        for case in [c for c in cases if any(r["case"] == c for r in mine)]:
            rs = [r for r in mine if r["case"] == case]
            refused = all(olds[(robot, case, r["hz"], r["speed"])]["refused"] for r in rs)
            before = "refused" if refused else "accepted"
            cells = [robot, rs[0]["mode"], case, before]
            for h in rates:
                sel = [r for r in rs if r["hz"] == h and r["speed"] == "collaborative"]
                cells.append(f"{sel[0][metric]:.2f}" if sel else "")
            cells.append(f"{max(r[metric] for r in rs if r['speed'] == 'normal'):.2f}")
            if robot == "quadruped":
                cells += [f"{max(r['peak_substep'] for r in rs):.2f}",
                          str(sum(r["commanded_exits"] for r in rs)),
                          f"{max(r['measured_exit_max_m'] for r in rs):.3f}"]
            else:
                cells += [str(sum(r["commanded_exits"] for r in rs)),
                          str(sum(r["joint_limit_violations"] for r in rs))]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- deadlines
class KinematicArm:
    """A physics-free arm7 that tracks joint commands exactly: read/write cost microseconds."""

    def __init__(self, mode: str, hz: float = 1000.0) -> None:
        self.mode, self.hz = mode, hz
        self.emb = make_embodiment("arm7")
        self.kin = self.emb.kinematics()
        self.q = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
        self.n_state = len(self.emb.state_names())

    def connect(self) -> DriverInfo:
        spec = self.emb.action_spec(self.mode)
        return DriverInfo("arm7", self.mode, self.hz, self.emb.state_names(), list(spec.names),
                          np.asarray(spec.low), np.asarray(spec.high), self.emb.safety_limits(), [], self.kin)

    def read(self) -> Reading:
        rs = RobotState(self.q.copy(), self.kin.points(self.q)[:, 0].copy(), np.zeros((1, 6)),
                        stamp=time.monotonic())
        return Reading({"state": np.zeros(self.n_state, np.float32)}, rs)

    def write(self, command: np.ndarray) -> None:
        if self.mode == "joint_pos":
            self.q = np.asarray(command[:7], float)

    def stop(self) -> None:
        pass

    def disconnect(self) -> None:
        pass


class HoldPolicy:
    """A trivial 'package': chunks that hold still, with the contract of the kinematic arm at `hz`."""

    def __init__(self, drv: KinematicArm) -> None:
        spec = drv.emb.action_spec(drv.mode)
        self.path = "hold-policy"
        self.contract = PolicyContract(
            embodiment="arm7", control=drv.mode, control_hz=drv.hz,
            state_names=tuple(drv.emb.state_names()), action_names=tuple(spec.names), chunk_size=20,
            execution=Execution("queue", horizon=10),
        )
        self.hold = (np.append([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785], 0.0) if drv.mode == "joint_pos"
                     else np.zeros(7))

    def infer(self, obs: dict) -> np.ndarray:
        return np.tile(self.hold, (self.contract.chunk_size, 1)).astype(np.float32)


def deadline_misses(baseline_cls, seconds: float, repeats: int) -> list[dict]:
    """Runtime deadline-miss rate per rate / mode / supervisor; old and new interleaved `repeats` times
    (the median run is reported, every run is kept: a shared host's load comes and goes)."""
    runs: dict[tuple, list[dict]] = {}
    for _ in range(repeats):
        for hz, mode, variant in product((500.0, 1000.0), ("joint_pos", "ee_delta"), ("old", "new")):
            drv = KinematicArm(mode, hz)
            pkg = HoldPolicy(drv)
            orig = rt_mod.make_supervisor
            if variant == "old":
                def old_sup(info, period, cfg):
                    return make_sup("old", baseline_cls, info, 1 / period, cfg)

                rt_mod.make_supervisor = old_sup
            try:
                rep = Runtime(pkg, drv, RuntimeConfig(duration=seconds, realtime=True)).run()
            finally:
                rt_mod.make_supervisor = orig
            tm = rep["timing"]
            runs.setdefault((hz, mode, variant), []).append(
                {"cycles": rep["cycles"], "deadline_miss_rate": tm["deadline_miss_rate"],
                 "work_p50_ms": tm["work_p50_ms"], "work_p99_ms": tm["work_p99_ms"],
                 "state": rep["safety"]["state"], "stop_reason": rep["safety"]["stop_reason"]})
    rows = []
    for (hz, mode, variant), rs in runs.items():
        med = sorted(rs, key=lambda r: r["deadline_miss_rate"])[len(rs) // 2]
        rows.append({"hz": hz, "mode": mode, "variant": variant, **med,
                     "miss_rates": [r["deadline_miss_rate"] for r in rs]})
    return rows


# ---------------------------------------------------------------------------------------------- report
def _line(o: dict, n: dict) -> str:
    stop = f" ({n['stop_reason'][:40]})" if n["stop_reason"] else ""
    return (
        f"{o['robot']:9s} {o['mode']:9s} {o['case']:13s} {o['hz']:5.0f} Hz {o['speed'][:6]:6s} "
        f"peak {o['peak_substep']:5.2f} -> {n['peak_substep']:5.2f} x cap  "
        f"exits {o['commanded_exits']:3d} -> {n['commanded_exits']:3d}  "
        f"start>vmax {o['start_vel_violations']:2d} -> {n['start_vel_violations']:2d}  {n['state']}{stop}"
    )


def table(rows: list[dict]) -> str:
    """Markdown: per robot / mode / case, the peak measured TCP speed (x cap) before -> after, per rate
    in collaborative mode and the worst rate in normal mode; commanded-pose exits summed."""
    idx = {(r["robot"], r["mode"], r["case"], r["hz"], r["speed"], r["variant"]): r for r in rows}
    order = {c: i for i, c in enumerate(EE_CASES + JOINT_CASES)}
    keys = sorted({(r["robot"], r["mode"], r["case"]) for r in rows},
                  key=lambda k: (list(TASKS).index(k[0]), k[1], order.get(k[2], 99)))
    rates = sorted({r["hz"] for r in rows})
    head = ["robot", "mode", "case", *(f"{h:.0f} Hz collab" for h in rates), "normal (worst rate)",
            "cmd exits", "start >vmax"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for robot, mode, case in keys:
        cells = [robot, mode, case + (" †" if case in PHYSICS_DRIVEN else "")]
        for h in rates:
            o, n = idx.get((robot, mode, case, h, "collaborative", "old")), idx.get(
                (robot, mode, case, h, "collaborative", "new"))
            cells.append(f"{o['peak_substep']:.2f} → {n['peak_substep']:.2f}" if o and n else "")
        mine = [r for r in rows if (r["robot"], r["mode"], r["case"]) == (robot, mode, case)]
        sel = [r for r in mine if r["speed"] == "normal"]
        o_n = max((r["peak_substep"] for r in sel if r["variant"] == "old"), default=0.0)
        n_n = max((r["peak_substep"] for r in sel if r["variant"] == "new"), default=0.0)
        cells.append(f"{o_n:.2f} → {n_n:.2f}")
        for k in ("commanded_exits", "start_vel_violations"):
            cells.append(f"{sum(r[k] for r in mine if r['variant'] == 'old')} → "
                         f"{sum(r[k] for r in mine if r['variant'] == 'new')}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: arm7 at 50 Hz, hand16 at 20 Hz, quadruped at 50 Hz, fewer cases")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/...)")
    ap.add_argument("--robots", default=None,
                    help="comma list of robots (arm7,bimanual,humanoid,hand16,quadruped); default all")
    ap.add_argument("--deadline-only", action="store_true",
                    help="re-measure only the deadline misses (on a quieter host) into the existing JSON")
    args = ap.parse_args()
    baseline = load_baseline()
    out = args.out or ROOT / "bench" / "results" / f"safety_motion{'_quick' if args.quick else ''}.json"
    if args.deadline_only:
        result = json.loads(out.read_text()) if out.exists() else {}
        result["deadline"] = deadline_misses(baseline, 1.0 if args.quick else 3.0, 1 if args.quick else 3)
        out.write_text(json.dumps(result, indent=1))
        _print_deadline(result["deadline"])
        print(f"updated {out}")
        return
    wanted = args.robots.split(",") if args.robots else (["arm7", "hand16", "quadruped"] if args.quick
                                                           else [*TASKS, *MODE_TASKS])
    robots = [r for r in wanted if r in TASKS]
    mode_robots = [r for r in wanted if r in MODE_TASKS]
    rates = [50.0] if args.quick else [20.0, 50.0, 100.0]
    mode_rates = {"hand16": [20.0] if args.quick else [20.0, 50.0, 100.0],
                  "quadruped": [50.0] if args.quick else [50.0, 100.0]}
    ee_cases = ["rotation", "flip", "face-z", "reach", "blocked"] if args.quick else EE_CASES
    joint_cases = ["far_targets", "blocked", "start_margin"] if args.quick else JOINT_CASES
    rows, costs = [], {}
    t_start = time.perf_counter()
    for robot_key in robots:
        for mode, cases in (("ee_delta", ee_cases), ("joint_pos", joint_cases)):
            for hz in rates:
                drv = SimDriver(TASKS[robot_key], control=mode, hz=hz, realtime=False, max_steps=10**9)
                info = drv.connect()
                try:
                    for case in cases:
                        secs = SECONDS.get(case, 1.5)
                        for collab in (True, False):
                            pair = {}
                            for variant in ("old", "new"):
                                pair[variant] = run_case(
                                    drv, info, robot_key, case, hz, collab, variant, baseline, secs, costs
                                )
                                rows.append(pair[variant])
                            print(_line(pair["old"], pair["new"]), flush=True)
                finally:
                    drv.disconnect()
    mode_rows = run_modes(mode_robots, mode_rates, baseline, costs, args.quick)
    cost = {f"{mode}/{v}": 1e6 * s / max(k, 1) for (mode, v), (s, k) in costs.items()}
    ratio = {mode: cost[f"{mode}/new"] / cost[f"{mode}/old"] for mode in ("ee_delta", "joint_pos")
             if f"{mode}/new" in cost and f"{mode}/old" in cost}
    dl = deadline_misses(baseline, 1.0 if args.quick else 3.0, 1 if args.quick else 3) if robots else []
    new = [r for r in rows if r["variant"] == "new" and r["case"] not in PHYSICS_DRIVEN]
    old = [r for r in rows if r["variant"] == "old" and r["case"] not in PHYSICS_DRIVEN]
    mnew = [r for r in mode_rows if r["variant"] == "new"]
    hand = [r for r in mnew if r["robot"] == "hand16"]
    quad = [r for r in mnew if r["robot"] == "quadruped"]
    modes_summary = {
        "cases": len(mnew),
        "refused_before": sum(bool(r["refused"]) for r in mode_rows if r["variant"] == "old"),
        "hand_max_peak_substep": max((r["peak_substep"] for r in hand), default=None),
        "quadruped_max_peak_travel": max((r["peak_travel"] for r in quad), default=None),
        "quadruped_max_inst_trunk_ungated": max((r["peak_substep"] for r in quad), default=None),
        "cases_over_1.1": sum((r.get("peak_travel") or r["peak_substep"]) > 1.1 for r in mnew),
        "commanded_exits": sum(r["commanded_exits"] for r in mnew),
        "quadruped_measured_exit_max_m": max((r["measured_exit_max_m"] for r in quad), default=None),
        "stops": sorted({(r["robot"], r["case"], r["stop_reason"].split(":")[0]) for r in mnew
                         if r["stop_reason"]}),
    }
    summary = {
        "cases": len(new),
        "max_peak_substep_old": max((r["peak_substep"] for r in old), default=None),
        "max_peak_substep_new": max((r["peak_substep"] for r in new), default=None),
        "cases_over_1.1_old": sum(r["peak_substep"] > 1.1 for r in old),
        "cases_over_1.1_new": sum(r["peak_substep"] > 1.1 for r in new),
        "commanded_exits_old": sum(r["commanded_exits"] for r in old),
        "commanded_exits_new": sum(r["commanded_exits"] for r in new),
        "start_vel_violations_old": sum(r["start_vel_violations"] for r in old),
        "start_vel_violations_new": sum(r["start_vel_violations"] for r in new),
        "filter_us": cost, "filter_cost_ratio_new_over_old": ratio, "other_modes": modes_summary,
        "wall_s": time.perf_counter() - t_start,
    }
    if rows:
        print("\n" + table(rows))
    if mode_rows:
        print("\n" + table_modes(mode_rows))
    print("\nsupervisor cost per cycle (us): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(cost.items()))
          + "; new/old " + ", ".join(f"{k} {v:.1f}x" for k, v in ratio.items()))
    _print_deadline(dl)
    print(json.dumps(summary, indent=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"summary": summary, "cases": rows + mode_rows, "deadline": dl,
              "table": table(rows) if rows else "", "table_modes": table_modes(mode_rows)}
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def _print_deadline(dl: list[dict]) -> None:
    print("deadline misses (realtime, kinematic arm, hold policy):")
    for r in dl:
        runs = ", ".join(f"{x:.4f}" for x in r["miss_rates"])
        print(f"  {r['hz']:6.0f} Hz {r['mode']:9s} {r['variant']}: miss rate {r['deadline_miss_rate']:.4f} "
              f"(runs {runs}) over {r['cycles']} cycles, work p50 {r['work_p50_ms']:.3f} ms "
              f"p99 {r['work_p99_ms']:.3f} ms")


if __name__ == "__main__":
    main()
