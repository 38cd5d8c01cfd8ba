"""The shared kitchen scene: a counter in front of an `arm7`, five articulated fixtures, a pantry of objects.

Every fixture hangs off a mocap root so `reset` can rearrange the kitchen without recompiling: each
episode puts the task's fixture and two distractor fixtures into three counter slots (shuffled, with
jitter) and parks the other fixtures below the floor. Fixture frames: origin at the middle of the
front face on the counter top, +x pointing away from the robot (the fixture faces -x, towards the arm).

Fixtures (all built from MjSpec primitives):
- `drawers`: a chest with one drawer on a slide joint (`drawer`, 0..0.2 m, opens towards the robot)
  and a bar handle standing off the drawer front.
- `cabinet`: a cupboard with a door on a vertical hinge (`cabinet_door`, 0..2 rad) and a bar handle.
- `stove`: a cooktop with two burners and two knobs (`knob_left`, `knob_right`, hinges about +z with
  a pointer fin); a burner is on when its knob is past `KNOB_ON` rad.
- `sink`: a basin with a faucet whose lever swings about +z (`faucet_lever`); water runs past `LEVER_ON`.
- `microwave`: a box with a cavity, a door on a vertical hinge (`microwave_door`) and a start button on
  a spring-loaded slide joint (`microwave_button`, on top of the control panel), pressed when depressed
  past `BUTTON_PRESSED` m.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7, Arm7Config, lookat_xyaxes
from physai.sim.scene import GEOM, add_free_object, add_table, free_pose, set_free_pose

COUNTER_Z = 0.4
FRONT_X = 0.47  # x of the fixtures' front faces (before jitter)
SLOT_Y = (-0.37, 0.0, 0.37)
SLOT_JITTER = 0.02
FREE_X = (0.3, 0.39)  # counter strip in front of the fixtures where loose objects stand
PARK_X = -1.2  # unused fixtures and objects wait on the floor behind the robot, out of view

FIXTURES = ("drawers", "cabinet", "stove", "sink", "microwave")
DRAWER_TRAVEL = 0.18
HANDLE_STANDOFF = 0.065  # m from the panel to the handle bar axis: room for the closed fingers
KNOB_ON = 1.0
LEVER_ON = 0.6
BUTTON_PRESSED = 0.006

WOOD = (0.55, 0.42, 0.3, 1)
WHITE = (0.9, 0.9, 0.88, 1)
STEEL = (0.7, 0.72, 0.75, 1)
DARK = (0.15, 0.15, 0.17, 1)


@dataclass(frozen=True)
class FixtureGeom:
    """Footprint of a fixture (m): width along y, depth along x, height."""

    width: float
    depth: float
    height: float


GEOMS = {
    "drawers": FixtureGeom(0.26, 0.28, 0.28),
    "cabinet": FixtureGeom(0.26, 0.28, 0.3),
    "stove": FixtureGeom(0.3, 0.3, 0.04),
    "sink": FixtureGeom(0.28, 0.18, 0.1),
    "microwave": FixtureGeom(0.32, 0.26, 0.2),
}
# fixture-frame geometry the experts and success predicates need
DRAWER_HANDLE_Z = 0.21
DRAWER_BOTTOM = 0.15  # the drawer is the top one of the chest
CABINET_HINGE = np.array([0.0, -0.13, 0.0])  # hinge axis position (door closed, fixture frame)
CABINET_HANDLE = np.array([-0.016 - HANDLE_STANDOFF, 0.21, 0.26])  # bar centre in the door frame
CABINET_SHELF_Z = 0.02  # cupboard floor above the counter
KNOB_Y = {"left": 0.06, "right": -0.06}
KNOB_X = 0.045
FAUCET_POS = np.array([0.205, 0.0, 0.2])  # lever hinge (fixture frame)
LEVER_LEN = 0.08
MW_CAVITY_Y = (-0.1, 0.13)  # cavity between these y (fixture frame)
MW_FLOOR_Z = 0.02
MW_CEIL_Z = 0.18
MW_HINGE = np.array([0.0, 0.13, 0.0])
MW_BUTTON = np.array([0.04, -0.13, 0.2])  # base of the start button on the panel's top (fixture frame)
SINK_WALL = 0.01


# ---------------------------------------------------------------------------------------------- objects
@dataclass(frozen=True)
class KitchenObject:
    """A graspable kitchen item built from one primitive."""

    name: str
    shape: int
    size: tuple[float, ...]
    rgba: tuple[float, float, float, float]
    half_height: float
    half_width: float
    """Largest horizontal half extent (m) at yaw 0 along y (what the fingers squeeze in a side grasp)."""
    side_graspable: bool
    """Tall enough to be grasped from the side (cabinet and microwave tasks)."""
    yaw_symmetry: float
    mass: float = 0.12


OBJECTS: tuple[KitchenObject, ...] = (
    KitchenObject(
        "soda can", GEOM.mjGEOM_CYLINDER, (0.031, 0.06), (0.8, 0.1, 0.1, 1), 0.06, 0.031, True, 0.0
    ),
    KitchenObject(
        "coffee cup", GEOM.mjGEOM_CYLINDER, (0.034, 0.045), (0.95, 0.95, 0.92, 1), 0.045, 0.034, True, 0.0
    ),
    KitchenObject(
        "water bottle", GEOM.mjGEOM_CYLINDER, (0.028, 0.08), (0.5, 0.75, 0.95, 1), 0.08, 0.028, True, 0.0
    ),
    KitchenObject(
        "juice box", GEOM.mjGEOM_BOX, (0.03, 0.022, 0.055), (0.98, 0.6, 0.1, 1), 0.055, 0.022, True, np.pi
    ),
    KitchenObject(
        "milk carton",
        GEOM.mjGEOM_BOX,
        (0.027, 0.027, 0.07),
        (0.85, 0.9, 1.0, 1),
        0.07,
        0.027,
        True,
        np.pi / 2,
    ),
    KitchenObject(
        "jam jar", GEOM.mjGEOM_CYLINDER, (0.032, 0.05), (0.6, 0.1, 0.35, 1), 0.05, 0.032, True, 0.0
    ),
    KitchenObject("apple", GEOM.mjGEOM_SPHERE, (0.033,), (0.75, 0.12, 0.1, 1), 0.033, 0.033, False, 0.0),
    KitchenObject("orange", GEOM.mjGEOM_SPHERE, (0.032,), (1.0, 0.55, 0.05, 1), 0.032, 0.032, False, 0.0),
    KitchenObject(
        "lemon", GEOM.mjGEOM_ELLIPSOID, (0.036, 0.026, 0.026), (0.98, 0.9, 0.2, 1), 0.026, 0.026, False, np.pi
    ),
)
SIDE_OBJECTS = tuple(o for o in OBJECTS if o.side_graspable)


def object_joint(kind: KitchenObject) -> str:
    return "item_" + kind.name.replace(" ", "_")


# ---------------------------------------------------------------------------------------------- robot
class KitchenArm(Arm7):
    """`arm7` with the scene camera over its right shoulder, so it sees the fixtures' fronts."""

    def __init__(self) -> None:
        super().__init__(Arm7Config(scene_camera=False))

    def build(self, spec: mujoco.MjSpec) -> None:
        super().build(spec)
        cam = np.array([-0.35, -0.75, 1.35])
        spec.worldbody.add_camera(
            name="scene", pos=cam.tolist(), xyaxes=lookat_xyaxes(cam, np.array([0.5, 0.0, 0.45])), fovy=60
        )

    def cameras(self) -> list[str]:
        return ["scene", "wrist"]


# ---------------------------------------------------------------------------------------------- builders
def _box(
    body: mujoco.MjsBody,
    half: tuple[float, float, float],
    pos: tuple[float, float, float],
    rgba: tuple[float, ...],
    name: str | None = None,
    **kw: object,
) -> None:
    extra = {"name": name} if name else {}
    body.add_geom(type=GEOM.mjGEOM_BOX, size=list(half), pos=list(pos), rgba=list(rgba), **extra, **kw)


def _bar_handle(body: mujoco.MjsBody, name: str, center: np.ndarray, half_len: float) -> None:
    """A bar along y at `center` (x is the standoff from the panel at x = center.x + standoff)."""
    cx, cy, cz = center
    body.add_geom(
        name=name,
        type=GEOM.mjGEOM_CAPSULE,
        size=[0.008, 0, 0],
        fromto=[cx, cy - half_len, cz, cx, cy + half_len, cz],
        rgba=list(STEEL),
    )
    for s in (-1, 1):
        body.add_geom(
            type=GEOM.mjGEOM_CAPSULE,
            size=[0.006, 0, 0],
            fromto=[cx, cy + s * half_len, cz, cx + HANDLE_STANDOFF, cy + s * half_len, cz],
            rgba=list(STEEL),
        )


def _shell(
    body: mujoco.MjsBody,
    g: FixtureGeom,
    t: float,
    rgba: tuple[float, ...],
    top: bool = True,
    floor: bool = True,
) -> None:
    """Back, two sides, optional top and floor of a box open at the front (x = 0)."""
    w, d, h = g.width / 2, g.depth, g.height
    _box(body, (t, w, h / 2), (d - t, 0, h / 2), rgba)
    for s in (-1, 1):
        _box(body, (d / 2, t, h / 2), (d / 2, s * (w - t), h / 2), rgba)
    if top:
        _box(body, (d / 2, w, t), (d / 2, 0, h - t), rgba)
    if floor:
        _box(body, (d / 2, w, t), (d / 2, 0, t), rgba)


def fixture_park(name: str) -> np.ndarray:
    """Where an unused fixture waits (on the floor behind the robot)."""
    return np.array([PARK_X - 0.4, -1.0 + 0.5 * FIXTURES.index(name), 0.01])


def object_park(i: int, kind: KitchenObject) -> np.ndarray:
    return np.array([PARK_X, -0.5 + 0.12 * i, kind.half_height + 0.002])


def _build_drawers(spec: mujoco.MjSpec) -> None:
    g = GEOMS["drawers"]
    root = spec.worldbody.add_body(name="drawers", mocap=True, pos=fixture_park("drawers").tolist())
    _shell(root, g, 0.01, WOOD)
    _box(root, (g.depth / 2, g.width / 2, 0.01), (g.depth / 2, 0, DRAWER_BOTTOM - 0.01), WOOD)  # divider
    _box(root, (0.008, g.width / 2 - 0.012, DRAWER_BOTTOM / 2 - 0.012), (-0.008, 0, DRAWER_BOTTOM / 2), WHITE)
    drawer = root.add_body(name="drawer_box", pos=[0, 0, DRAWER_BOTTOM])
    drawer.add_joint(
        name="drawer",
        type=mujoco.mjtJoint.mjJNT_SLIDE,
        axis=[-1, 0, 0],
        range=[0, DRAWER_TRAVEL],
        damping=8.0,
        frictionloss=0.5,
        armature=0.05,
    )
    w, d, hh = g.width / 2 - 0.022, g.depth - 0.03, (g.height - DRAWER_BOTTOM) / 2 - 0.01
    _box(drawer, (0.008, g.width / 2 - 0.012, hh), (0.008, 0, hh + 0.002), WHITE, mass=0.3)  # front panel
    _box(drawer, (d / 2, w, 0.005), (d / 2, 0, 0.005), WHITE, mass=0.2)  # floor
    _box(drawer, (0.005, w, hh / 2), (d - 0.005, 0, hh / 2), WHITE, mass=0.05)
    for s in (-1, 1):
        _box(drawer, (d / 2, 0.005, hh / 2), (d / 2, s * w, hh / 2), WHITE, mass=0.05)
    _bar_handle(
        drawer, "drawer_handle", np.array([-HANDLE_STANDOFF, 0, DRAWER_HANDLE_Z - DRAWER_BOTTOM]), 0.06
    )


def _build_cabinet(spec: mujoco.MjSpec) -> None:
    g = GEOMS["cabinet"]
    root = spec.worldbody.add_body(name="cabinet", mocap=True, pos=fixture_park("cabinet").tolist())
    _shell(root, g, 0.01, WOOD)
    door = root.add_body(name="cabinet_door_body", pos=CABINET_HINGE.tolist())
    door.add_joint(
        name="cabinet_door",
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=[0, 0, 1],
        range=[0, 2.0],
        damping=1.0,
        frictionloss=0.3,
        armature=0.02,
    )
    _box(
        door, (0.008, g.width / 2, g.height / 2 - 0.005), (-0.008, g.width / 2, g.height / 2), WHITE, mass=0.8
    )
    _bar_handle(door, "cabinet_handle", CABINET_HANDLE, 0.03)


def _build_stove(spec: mujoco.MjSpec) -> None:
    g = GEOMS["stove"]
    root = spec.worldbody.add_body(name="stove", mocap=True, pos=fixture_park("stove").tolist())
    _box(root, (g.depth / 2, g.width / 2, g.height / 2), (g.depth / 2, 0, g.height / 2), DARK)
    for side, y in KNOB_Y.items():
        root.add_geom(
            name=f"burner_{side}",
            type=GEOM.mjGEOM_CYLINDER,
            size=[0.055, 0.002],
            pos=[0.19, y * 1.6, g.height + 0.002],
            rgba=[0.3, 0.3, 0.32, 1],
            contype=0,
            conaffinity=0,
        )
        knob = root.add_body(name=f"knob_{side}_body", pos=[KNOB_X, y, g.height])
        knob.add_joint(
            name=f"knob_{side}",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[0, 0, 1],
            range=[-0.1, 1.7],
            damping=0.05,
            frictionloss=0.05,
            armature=0.002,
        )
        knob.add_geom(
            type=GEOM.mjGEOM_CYLINDER, size=[0.02, 0.01], pos=[0, 0, 0.01], rgba=list(STEEL), mass=0.03
        )
        knob.add_geom(
            name=f"knob_{side}_fin",
            type=GEOM.mjGEOM_BOX,
            size=[0.027, 0.005, 0.02],
            pos=[-0.027, 0, 0.02],
            rgba=[0.9, 0.9, 0.9, 1],
            mass=0.01,
        )


def _build_sink(spec: mujoco.MjSpec) -> None:
    g = GEOMS["sink"]
    root = spec.worldbody.add_body(name="sink", mocap=True, pos=fixture_park("sink").tolist())
    w, d, h, t = g.width / 2, g.depth, g.height, SINK_WALL
    _box(root, (d / 2, w, t / 2), (d / 2, 0, t / 2), STEEL, name="sink_floor")
    _box(root, (t / 2, w, h / 2), (t / 2, 0, h / 2), STEEL)
    _box(root, (t / 2, w, h / 2), (d - t / 2, 0, h / 2), STEEL)
    for s in (-1, 1):
        _box(root, (d / 2, t / 2, h / 2), (d / 2, s * (w - t / 2), h / 2), STEEL)
    fx, _, fz = FAUCET_POS
    root.add_geom(
        type=GEOM.mjGEOM_CYLINDER, size=[0.018, fz / 2 - 0.005], pos=[fx, 0, fz / 2 - 0.005], rgba=list(STEEL)
    )
    root.add_geom(
        type=GEOM.mjGEOM_CAPSULE,
        size=[0.012, 0, 0],
        fromto=[fx, 0, fz - 0.04, fx - 0.1, 0, fz - 0.04],
        rgba=list(STEEL),
        contype=0,
        conaffinity=0,
    )
    lever = root.add_body(name="faucet_lever_body", pos=FAUCET_POS.tolist())
    lever.add_joint(
        name="faucet_lever",
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=[0, 0, 1],
        range=[-0.1, 1.2],
        damping=0.1,
        frictionloss=0.08,
        armature=0.005,
    )
    lever.add_geom(
        type=GEOM.mjGEOM_CYLINDER, size=[0.02, 0.01], pos=[0, 0, 0.01], rgba=list(STEEL), mass=0.05
    )
    lever.add_geom(
        name="faucet_lever_arm",
        type=GEOM.mjGEOM_BOX,
        size=[LEVER_LEN / 2, 0.006, 0.015],
        pos=[-LEVER_LEN / 2, 0, 0.02],
        rgba=list(WHITE),
        mass=0.03,
    )


def _build_microwave(spec: mujoco.MjSpec) -> None:
    g = GEOMS["microwave"]
    root = spec.worldbody.add_body(name="microwave", mocap=True, pos=fixture_park("microwave").tolist())
    w, d, h, t = g.width / 2, g.depth, g.height, 0.01
    _box(root, (t, w, h / 2), (d - t, 0, h / 2), WHITE)
    for s in (-1, 1):
        _box(root, (d / 2, t, h / 2), (d / 2, s * (w - t), h / 2), WHITE)
    _box(root, (d / 2, w, t), (d / 2, 0, h - t), WHITE)
    _box(root, (d / 2, w, MW_FLOOR_Z / 2), (d / 2, 0, MW_FLOOR_Z / 2), WHITE, name="microwave_floor")
    lo, hi = MW_CAVITY_Y
    pw = (lo + w) / 2  # control panel half width
    _box(root, (d / 2, pw, h / 2), (d / 2, -w + pw, h / 2), (0.25, 0.25, 0.28, 1))
    door = root.add_body(name="microwave_door_body", pos=MW_HINGE.tolist())
    door.add_joint(
        name="microwave_door",
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=[0, 0, -1],
        range=[0, 2.0],
        damping=1.0,
        frictionloss=0.3,
        armature=0.02,
    )
    dw = (hi - lo) / 2
    _box(door, (0.008, dw, h / 2 - 0.005), (-0.008, -dw, h / 2), (0.2, 0.22, 0.25, 1), mass=0.5)
    button = root.add_body(name="microwave_button_body", pos=MW_BUTTON.tolist())
    button.add_joint(
        name="microwave_button",
        type=mujoco.mjtJoint.mjJNT_SLIDE,
        axis=[0, 0, -1],
        range=[0, 0.012],
        stiffness=150.0,
        springref=0.0,
        damping=2.0,
        armature=0.01,
    )
    button.add_geom(
        name="microwave_button_cap",
        type=GEOM.mjGEOM_BOX,
        size=[0.018, 0.018, 0.007],
        pos=[0, 0, 0.007],
        rgba=[0.2, 0.8, 0.3, 1],
        mass=0.01,
    )


_BUILDERS = {
    "drawers": _build_drawers,
    "cabinet": _build_cabinet,
    "stove": _build_stove,
    "sink": _build_sink,
    "microwave": _build_microwave,
}


def build_kitchen(spec: mujoco.MjSpec) -> None:
    """Counter, the five fixtures (parked) and every kitchen object (parked)."""
    add_table(spec, "counter", (0.55, 0.0), (0.35, 0.75), COUNTER_Z, rgba=(0.78, 0.76, 0.72, 1))
    spec.worldbody.add_geom(
        name="backsplash",
        type=GEOM.mjGEOM_BOX,
        size=[0.01, 0.75, 0.3],
        pos=[0.91, 0, COUNTER_Z + 0.3],
        rgba=[0.85, 0.8, 0.7, 1],
    )
    for name in FIXTURES:
        _BUILDERS[name](spec)
    for i, k in enumerate(OBJECTS):
        add_free_object(
            spec, object_joint(k), k.shape, list(k.size), k.rgba, mass=k.mass, pos=tuple(object_park(i, k))
        )


# ---------------------------------------------------------------------------------------------- runtime
class Kitchen:
    """Runtime handle on the built kitchen: layout randomization, fixture frames and joint states."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.model, self.data = model, data
        self.mocap = {f: int(model.body(f).mocapid[0]) for f in FIXTURES}
        self.origin = {f: fixture_park(f) for f in FIXTURES}
        self.placed: set[str] = set()
        self._jq = {}
        for j in (
            "drawer",
            "cabinet_door",
            "knob_left",
            "knob_right",
            "faucet_lever",
            "microwave_door",
            "microwave_button",
        ):
            jid = model.joint(j).id
            self._jq[j] = (int(model.jnt_qposadr[jid]), int(model.jnt_dofadr[jid]))

    # layout
    def arrange(
        self,
        rng: np.random.Generator,
        target: str,
        n_distractors: int = 2,
        allowed_slots: tuple[int, ...] = (0, 1, 2),
    ) -> None:
        """Put `target` and `n_distractors` random other fixtures into shuffled slots; park the rest."""
        others = [f for f in FIXTURES if f != target]
        chosen = [others[i] for i in rng.permutation(len(others))[:n_distractors]]
        slot_t = int(allowed_slots[int(rng.integers(len(allowed_slots)))])
        rest = [s for s in range(len(SLOT_Y)) if s != slot_t]
        rest = [rest[i] for i in rng.permutation(len(rest))]
        placed = {target: slot_t, **dict(zip(chosen, rest, strict=False))}
        self.placed = set(placed)
        for f in FIXTURES:
            if f in placed:
                pos = np.array(
                    [
                        FRONT_X + rng.uniform(-SLOT_JITTER, SLOT_JITTER),
                        SLOT_Y[placed[f]] + rng.uniform(-SLOT_JITTER, SLOT_JITTER),
                        COUNTER_Z,
                    ]
                )
            else:
                pos = fixture_park(f)
            self.origin[f] = pos
            self.data.mocap_pos[self.mocap[f]] = pos
        for j in self._jq:
            self.set_joint(j, 0.0)

    def world(self, fixture: str, local: np.ndarray) -> np.ndarray:
        """Fixture-frame point -> world (fixtures are not rotated)."""
        return self.origin[fixture] + np.asarray(local, dtype=float)

    def active(self, fixture: str) -> bool:
        return fixture in self.placed

    # joints
    def joint(self, name: str) -> float:
        return float(self.data.qpos[self._jq[name][0]])

    def joint_vel(self, name: str) -> float:
        return float(self.data.qvel[self._jq[name][1]])

    def set_joint(self, name: str, value: float) -> None:
        qa, va = self._jq[name]
        self.data.qpos[qa] = value
        self.data.qvel[va] = 0.0

    # objects
    def park_objects(self) -> None:
        for i, k in enumerate(OBJECTS):
            set_free_pose(self.model, self.data, object_joint(k), object_park(i, k))

    def object_pose(self, kind: KitchenObject) -> np.ndarray:
        return free_pose(self.model, self.data, object_joint(kind))

    def object_speed(self, kind: KitchenObject) -> float:
        m = self.model
        adr = m.jnt_dofadr[m.joint(object_joint(kind)).id]
        return float(np.linalg.norm(self.data.qvel[adr : adr + 3]))

    def place_object(self, kind: KitchenObject, xy: np.ndarray, z_floor: float, yaw: float) -> None:
        set_free_pose(
            self.model,
            self.data,
            object_joint(kind),
            np.array([xy[0], xy[1], z_floor + kind.half_height + 0.001]),
            yaw=yaw,
        )


def free_counter_xy(rng: np.random.Generator, kitchen: Kitchen, keep_out: float = 0.0) -> np.ndarray:
    """A spot on the counter strip in front of the fixtures."""
    return np.array([rng.uniform(*FREE_X) - keep_out, rng.uniform(-0.4, 0.4)])
