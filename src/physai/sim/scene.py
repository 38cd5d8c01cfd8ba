"""Programmatic scene assembly with `mujoco.MjSpec`: base scene, tables, primitive objects, markers.

Everything physai simulates is built here or in embodiment/task modules from primitives; there are
no XML blobs or external assets.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

GEOM = mujoco.mjtGeom
OBJECT_GROUP = 1  # contype/conaffinity bit shared by tables, objects and robot links


@dataclass
class SceneConfig:
    """Physics and visual settings of a scene."""

    timestep: float = 0.002
    """Physics timestep in seconds (fixed)."""
    offscreen_size: tuple[int, int] = (640, 480)
    """Largest offscreen render size (width, height)."""
    shadows: bool = False
    """Shadow maps; off by default for fast CPU rendering."""
    multisamples: int = 0
    """MSAA samples for offscreen rendering (0 for speed, 4 for nicer videos)."""


def new_scene(config: SceneConfig | None = None) -> mujoco.MjSpec:
    """An empty world: floor, lights, physics options, and the fast offscreen render defaults."""
    cfg = config or SceneConfig()
    spec = mujoco.MjSpec()
    spec.compiler.degree = False  # every angle in physai is in radians
    spec.option.timestep = cfg.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.visual.quality.shadowsize = 2048 if cfg.shadows else 0
    spec.visual.quality.offsamples = cfg.multisamples
    spec.visual.global_.offwidth, spec.visual.global_.offheight = cfg.offscreen_size
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    wb = spec.worldbody
    wb.add_light(name="key", pos=[0.5, -0.5, 2.5], dir=[-0.2, 0.2, -1], castshadow=cfg.shadows,
                 diffuse=[0.6, 0.6, 0.6])
    wb.add_geom(name="floor", type=GEOM.mjGEOM_PLANE, size=[5, 5, 0.1], rgba=[0.82, 0.84, 0.86, 1],
                contype=OBJECT_GROUP, conaffinity=OBJECT_GROUP)
    return spec


def add_table(spec: mujoco.MjSpec, name: str, center: tuple[float, float], half_size: tuple[float, float],
              height: float = 0.4, rgba: tuple[float, ...] = (0.62, 0.5, 0.38, 1)) -> float:
    """A static table whose top is at `height`; returns that height."""
    body = spec.worldbody.add_body(name=name, pos=[center[0], center[1], 0])
    t = 0.02
    body.add_geom(name=f"{name}_top", type=GEOM.mjGEOM_BOX, size=[half_size[0], half_size[1], t],
                  pos=[0, 0, height - t], rgba=list(rgba), friction=[1.0, 0.01, 0.001])
    for sx in (-1, 1):
        for sy in (-1, 1):
            body.add_geom(type=GEOM.mjGEOM_BOX, size=[0.025, 0.025, (height - 2 * t) / 2],
                          pos=[sx * (half_size[0] - 0.04), sy * (half_size[1] - 0.04), (height - 2 * t) / 2],
                          rgba=list(rgba), contype=0, conaffinity=0)
    return height


def add_free_object(spec: mujoco.MjSpec, name: str, geom_type: int, size: list[float],
                    rgba: tuple[float, ...], mass: float = 0.1, friction: float = 1.0,
                    pos: tuple[float, float, float] = (0, 0, 1)) -> mujoco.MjsBody:
    """A rigid object with a free joint named `<name>` and one geom `<name>_geom`."""
    body = spec.worldbody.add_body(name=name, pos=list(pos))
    body.add_freejoint(name=name)
    body.add_geom(name=f"{name}_geom", type=geom_type, size=size, rgba=list(rgba), mass=mass,
                  friction=[friction, 0.01, 0.0005], condim=4, solref=[0.01, 1], priority=1)
    return body


def add_marker(spec: mujoco.MjSpec, name: str, half_size: tuple[float, float], rgba: tuple[float, ...],
               pos: tuple[float, float, float] = (0, 0, 0)) -> mujoco.MjsBody:
    """A flat, non-colliding coloured patch (a target zone) on a mocap body so resets can move it."""
    body = spec.worldbody.add_body(name=name, pos=list(pos), mocap=True)
    body.add_geom(name=f"{name}_geom", type=GEOM.mjGEOM_BOX, size=[half_size[0], half_size[1], 0.0008],
                  rgba=list(rgba), contype=0, conaffinity=0)
    return body


def add_open_box(parent: mujoco.MjsBody, prefix: str, half: tuple[float, float, float], wall: float,
                 rgba: tuple[float, ...], mass: float = 0.2) -> None:
    """Floor and four walls of an open-topped box, added as geoms of `parent` (its origin at the floor)."""
    hx, hy, hz = half
    m = mass / 5
    parent.add_geom(name=f"{prefix}_floor", type=GEOM.mjGEOM_BOX, size=[hx, hy, wall / 2],
                    pos=[0, 0, wall / 2], rgba=list(rgba), mass=m)
    for i, (sx, sy, px, py) in enumerate(
        [(wall / 2, hy, hx - wall / 2, 0), (wall / 2, hy, -hx + wall / 2, 0),
         (hx, wall / 2, 0, hy - wall / 2), (hx, wall / 2, 0, -hy + wall / 2)]
    ):
        parent.add_geom(name=f"{prefix}_wall{i}", type=GEOM.mjGEOM_BOX, size=[sx, sy, hz],
                        pos=[px, py, hz], rgba=list(rgba), mass=m)


def set_free_pose(model: mujoco.MjModel, data: mujoco.MjData, joint: str, pos: np.ndarray,
                  yaw: float = 0.0) -> None:
    """Place a free-jointed body at `pos` with heading `yaw`, at rest."""
    jid = model.joint(joint).id
    qadr, vadr = model.jnt_qposadr[jid], model.jnt_dofadr[jid]
    data.qpos[qadr:qadr + 3] = pos
    data.qpos[qadr + 3:qadr + 7] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
    data.qvel[vadr:vadr + 6] = 0


def free_pose(model: mujoco.MjModel, data: mujoco.MjData, joint: str) -> np.ndarray:
    """Position (3) and quaternion (4, wxyz) of a free joint."""
    qadr = model.jnt_qposadr[model.joint(joint).id]
    return data.qpos[qadr:qadr + 7].copy()


def yaw_quat(yaw: float) -> list[float]:
    """Quaternion (wxyz) of a rotation by `yaw` about +z."""
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]
