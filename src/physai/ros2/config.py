"""The ROS 2 robot CONFIG: which topics feed a policy's inputs and how its action is sent.

A YAML file (`physai ros2 sim --write-config` writes one for any task):

```yaml
embodiment: arm7            # registered embodiment (its safety limits and kinematics)
control: ee_delta           # the control mode the command interface accepts
hz: 20                      # control rate of the robot's controllers (the package's must match)
domain_id: 0                # ROS_DOMAIN_ID of the robot's graph
namespace: /arm             # prefix for relative topic names
stale_after: 3              # periods without a newer header stamp on a topic -> protective stop
qos: {reliability: reliable, durability: volatile, depth: 1}
joint_states: {topic: joint_states, names: {joint1: fr3_joint1}}   # contract joint -> ROS joint
poses: {ee: {topic: tcp_pose}, target: {topic: target/pose}}        # `<prefix>.pos.*` / `.quat.*`
tcp: ee                     # which pose is the robot's TCP (the supervisor watches it)
wrenches: {wrist: {topic: wrist/wrench}}                            # `<prefix>.force.*` / `.torque.*`
cameras: {front: {topic: camera/front/image_raw}}                  # Image or CompressedImage (`type`)
tactile: {topic: tactile}                                           # std_msgs/Float64MultiArray
extras: {topic: task_state, names: [drawer.q]}                      # other state elements, in order
episode: {topic: physai/episode}                                    # simulated robots: [success, done]
command:
  interface: twist          # twist | forward_position | forward_velocity | joint_trajectory
  topic: servo/twist
  frame_id: base_link
  channels: [ee.dx, ee.dy, ee.dz, ee.drx, ee.dry, ee.drz]   # action channels on `topic`, in order
  gripper: {topic: gripper/commands, channels: [gripper]}   # other channels: Float64MultiArray
```

Every error names the YAML key that is wrong and what would be right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from physai.core.errors import ConfigError

INTERFACES = ("twist", "forward_position", "forward_velocity", "joint_trajectory")
"""Command interfaces: MoveIt Servo twist, ros2_control forward controllers, JointTrajectory."""
INTERFACE_TYPES = {
    "twist": "geometry_msgs/msg/TwistStamped",
    "forward_position": "std_msgs/msg/Float64MultiArray",
    "forward_velocity": "std_msgs/msg/Float64MultiArray",
    "joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
}
INTERFACE_CONTROLS = {
    "twist": ("ee_delta",),
    "forward_position": ("joint_pos",),
    "forward_velocity": ("joint_pos", "base_velocity"),
    "joint_trajectory": ("joint_pos",),
}
"""Which contract control modes each interface carries."""
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass(frozen=True)
class QosConfig:
    """Quality of service of a subscription or publication."""

    reliability: str = "reliable"
    """`reliable` or `best_effort` (sensor drivers often publish best_effort: match them)."""
    durability: str = "volatile"
    """`volatile` or `transient_local` (latched topics)."""
    depth: int = 1
    """History depth (the driver only ever uses the newest message)."""


@dataclass(frozen=True)
class TopicConfig:
    """One topic the driver reads or writes."""

    topic: str
    """Topic name; relative names are resolved under the config's `namespace`."""
    type: str
    """Message type, `pkg/msg/Name`."""
    hz: float | None = None
    """Expected publishing rate (None: the config's `hz`); staleness and `doctor` use it."""
    qos: QosConfig | None = None
    """QoS for this topic (None: the config's `qos`)."""
    key: str = ""
    """The YAML key this topic came from (for error messages)."""


@dataclass(frozen=True)
class CommandConfig:
    """How the supervised action is sent."""

    interface: str
    """One of `INTERFACES`."""
    topic: TopicConfig
    """The command topic."""
    channels: tuple[str, ...] | None = None
    """Action channels sent on `topic`, in the controller's order (None: every action channel not sent
    on the gripper topic, in the contract's order)."""
    frame_id: str = "base_link"
    """`header.frame_id` of twist commands (MoveIt Servo's planning frame)."""
    gripper: TopicConfig | None = None
    """Float64MultiArray topic for the channels in `gripper_channels` (e.g. a gripper controller)."""
    gripper_channels: tuple[str, ...] = ()
    """Action channels sent on `gripper`, in order."""


@dataclass(frozen=True)
class Ros2Config:
    """A ROS 2 robot as the driver sees it."""

    embodiment: str
    """Registered embodiment (its safety limits and kinematics; a package for another is refused)."""
    control: str
    """Control mode of the command interface (`ee_delta`, `joint_pos`, `base_velocity`)."""
    hz: float
    """Control rate the robot expects commands at (a package at another rate is refused)."""
    command: CommandConfig
    """The command interface."""
    joint_states: TopicConfig | None = None
    """sensor_msgs/JointState topic: `<joint>.pos/.vel/.torque` (and `gripper.width`) by joint NAME."""
    joint_names: dict[str, str] = field(default_factory=dict)
    """Contract joint name -> ROS joint name where they differ (`joint_states.names`)."""
    poses: dict[str, TopicConfig] = field(default_factory=dict)
    """State prefix -> geometry_msgs/PoseStamped topic (`<prefix>.pos.x/y/z`, `<prefix>.quat.w/x/y/z`)."""
    tcp: str | None = None
    """The pose prefix that is the robot's TCP (reported to the supervisor); None: no TCP pose."""
    wrenches: dict[str, TopicConfig] = field(default_factory=dict)
    """State prefix -> geometry_msgs/WrenchStamped topic (`<prefix>.force.*`, `<prefix>.torque.*`)."""
    cameras: dict[str, TopicConfig] = field(default_factory=dict)
    """Camera name -> sensor_msgs/Image (rgb8/bgr8/mono8) or CompressedImage (jpeg/png) topic."""
    tactile: TopicConfig | None = None
    """std_msgs/Float64MultiArray of taxel forces (`obs['tactile']`)."""
    extras: TopicConfig | None = None
    """std_msgs/Float64MultiArray carrying the state elements in `extra_names`, in that order."""
    extra_names: tuple[str, ...] = ()
    """Names of the `extras` elements (`extras.names`)."""
    episode: TopicConfig | None = None
    """Simulated robots only: Float64MultiArray [success, done] of the episode."""
    instruction: str | None = None
    """Instruction text for packages that take it as input."""
    domain_id: int = 0
    """ROS_DOMAIN_ID (0-232 are valid on Fast DDS)."""
    namespace: str = ""
    """Prefix of relative topic names."""
    qos: QosConfig = field(default_factory=QosConfig)
    """Default QoS of every topic."""
    stale_after: float = 3.0
    """A topic whose header stamp has not advanced for this many of its periods is stale: protective
    stop, and no command is sent on stale data."""
    connect_timeout: float = 10.0
    """Seconds `connect()` waits for the graph and the first message on every input topic (DDS
    discovery of a new participant can take seconds on a busy machine)."""
    lockstep: bool = False
    """Lockstep simulators (`physai ros2 sim --lockstep`, a sim stepped per command): after each command
    `read()` waits, up to `stale_after` periods, for every input topic to deliver a message sent after it
    (instead of judging freshness by age); no new state in time is a stale fault."""
    dry_run_log: Path | None = None
    """Dry run: JSONL file the commands are written to instead of being sent (None: kept in memory)."""

    def resolve(self, topic: str) -> str:
        """The absolute name of `topic` under `namespace`."""
        return resolve_name(topic, self.namespace)

    def inputs(self) -> list[TopicConfig]:
        """Every topic the driver subscribes to."""
        out = [self.joint_states] if self.joint_states else []
        out += [*self.poses.values(), *self.wrenches.values(), *self.cameras.values()]
        out += [t for t in (self.tactile, self.extras, self.episode) if t is not None]
        return out

    def outputs(self) -> list[TopicConfig]:
        """Every topic the driver publishes on."""
        return [self.command.topic] + ([self.command.gripper] if self.command.gripper else [])

    def rate(self, t: TopicConfig) -> float:
        """Expected rate of topic `t` (Hz)."""
        return t.hz if t.hz is not None else self.hz


def resolve_name(topic: str, namespace: str) -> str:
    """`'joint_states'` under `'/arm'` -> `'/arm/joint_states'`; absolute names are kept."""
    if topic.startswith("/"):
        return topic
    ns = namespace.strip("/")
    return f"/{ns}/{topic}" if ns else f"/{topic}"


class _Doc:
    """A YAML mapping read key by key; every error names the full key path and the file."""

    def __init__(self, data: Any, path: str, source: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: `{path or 'the document'}` must be a mapping, got {_kind(data)}")
        self.data, self.path, self.source = data, path, source
        self.used: set[str] = set()

    def key(self, k: str) -> str:
        return f"{self.path}.{k}" if self.path else k

    def err(self, k: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: `{self.key(k)}` {msg}")

    def has(self, k: str) -> bool:
        return self.data.get(k) is not None

    def get(self, k: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.used.add(k)
        v = self.data.get(k)
        if v is None:
            if required:
                raise self.err(k, "is missing")
            return default
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
            name = kind.__name__ if isinstance(kind, type) else " or ".join(t.__name__ for t in kind)
            raise self.err(k, f"must be a {name}, got {v!r}")
        return v

    def sub(self, k: str) -> _Doc | None:
        self.used.add(k)
        v = self.data.get(k)
        return None if v is None else _Doc(v, self.key(k), self.source)

    def done(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise self.err(extra[0], f"is not a known key here; known: {', '.join(sorted(self.used))}")


def _kind(v: Any) -> str:
    return type(v).__name__


def _qos(d: _Doc | None) -> QosConfig | None:
    if d is None:
        return None
    q = QosConfig(
        reliability=d.get("reliability", str, "reliable"),
        durability=d.get("durability", str, "volatile"),
        depth=d.get("depth", int, 1),
    )
    d.done()
    if q.reliability not in ("reliable", "best_effort"):
        raise d.err("reliability", f"must be reliable or best_effort, got {q.reliability!r}")
    if q.durability not in ("volatile", "transient_local"):
        raise d.err("durability", f"must be volatile or transient_local, got {q.durability!r}")
    if q.depth < 1:
        raise d.err("depth", f"must be at least 1, got {q.depth}")
    return q


def _topic(
    d: _Doc, default_type: str, allowed: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()
) -> TopicConfig:
    t = TopicConfig(
        topic=d.get("topic", str, required=True),
        type=d.get("type", str, default_type),
        hz=d.get("hz", float),
        qos=_qos(d.sub("qos")),
        key=d.path,
    )
    for k in extra:
        d.used.add(k)
    d.done()
    if not t.topic.strip("/"):
        raise d.err("topic", "is empty")
    ok = allowed or (default_type,)
    if t.type not in ok:
        raise d.err("type", f"must be {' or '.join(ok)}, got {t.type!r}")
    if t.hz is not None and not (math.isfinite(t.hz) and t.hz > 0):
        raise d.err("hz", f"must be a positive rate, got {t.hz}")
    return t


def _topics(
    d: _Doc | None, default_type: str, allowed: tuple[str, ...] | None = None
) -> dict[str, TopicConfig]:
    if d is None:
        return {}
    out = {}
    for name in list(d.data):
        sub = d.sub(name)
        if sub is not None:
            out[str(name)] = _topic(sub, default_type, allowed)
    return out


def _names(d: _Doc, k: str) -> tuple[str, ...]:
    v = d.get(k, list, [])
    if not all(isinstance(x, str) for x in v):
        raise d.err(k, f"must be a list of names, got {v!r}")
    return tuple(v)


def parse_config(data: Any, source: str = "<config>") -> Ros2Config:
    """A `Ros2Config` from the YAML document `data` (errors name `source` and the key)."""
    d = _Doc(data, "", source)
    control = d.get("control", str, required=True)
    hz = d.get("hz", float, required=True)
    if not (math.isfinite(hz) and hz > 0):
        raise d.err("hz", f"must be a positive rate, got {hz}")
    domain = d.get("domain_id", int, 0)
    if not 0 <= domain <= 232:
        raise d.err("domain_id", f"must be between 0 and 232, got {domain}")
    cd = d.sub("command")
    if cd is None:
        raise d.err("command", "is missing (interface and topic of the robot's command input)")
    interface = cd.get("interface", str, required=True)
    if interface not in INTERFACES:
        raise cd.err("interface", f"must be one of {', '.join(INTERFACES)}, got {interface!r}")
    if control not in INTERFACE_CONTROLS[interface]:
        raise cd.err(
            "interface",
            f"{interface} cannot carry {control} commands (`control`); use "
            + " or ".join(i for i, c in INTERFACE_CONTROLS.items() if control in c),
        )
    channels = _names(cd, "channels") if cd.has("channels") else None
    cd.used.add("channels")
    gd = cd.sub("gripper")
    gripper: TopicConfig | None = None
    gch: tuple[str, ...] = ()
    if gd is not None:
        gch = _names(gd, "channels")
        if not gch:
            raise gd.err("channels", "must list the action channels sent on the gripper topic")
        gripper = _topic(gd, "std_msgs/msg/Float64MultiArray", extra=("channels",))
    command = CommandConfig(
        interface=interface,
        topic=TopicConfig(
            cd.get("topic", str, required=True),
            INTERFACE_TYPES[interface],
            qos=_qos(cd.sub("qos")),
            key="command",
        ),
        channels=channels,
        frame_id=cd.get("frame_id", str, "base_link"),
        gripper=gripper,
        gripper_channels=gch,
    )
    cd.done()
    js, jnames = None, {}
    jd = d.sub("joint_states")
    if jd is not None:
        jnames = jd.get("names", dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in jnames.items()):
            raise jd.err("names", "must map contract joint names to ROS joint names (strings)")
        js = _topic(jd, "sensor_msgs/msg/JointState", extra=("names",))
    poses = _topics(d.sub("poses"), "geometry_msgs/msg/PoseStamped")
    tcp = d.get("tcp", str)
    if tcp is not None and tcp not in poses:
        raise d.err("tcp", f"names pose {tcp!r} but `poses` has {sorted(poses) or 'none'}")
    extras: TopicConfig | None = None
    extra_names: tuple[str, ...] = ()
    ed = d.sub("extras")
    if ed is not None:
        extra_names = _names(ed, "names")
        extras = _topic(ed, "std_msgs/msg/Float64MultiArray", extra=("names",))
    td, epd = d.sub("tactile"), d.sub("episode")
    log = d.get("dry_run_log", str)
    cfg = Ros2Config(
        embodiment=d.get("embodiment", str, required=True),
        control=control,
        hz=hz,
        command=command,
        joint_states=js,
        joint_names=dict(jnames),
        poses=poses,
        tcp=tcp,
        wrenches=_topics(d.sub("wrenches"), "geometry_msgs/msg/WrenchStamped"),
        cameras=_topics(d.sub("cameras"), "sensor_msgs/msg/Image", IMAGE_TYPES),
        tactile=None if td is None else _topic(td, "std_msgs/msg/Float64MultiArray"),
        extras=extras,
        extra_names=extra_names,
        episode=None if epd is None else _topic(epd, "std_msgs/msg/Float64MultiArray"),
        instruction=d.get("instruction", str),
        domain_id=domain,
        namespace=d.get("namespace", str, ""),
        qos=_qos(d.sub("qos")) or QosConfig(),
        stale_after=d.get("stale_after", float, 3.0),
        connect_timeout=d.get("connect_timeout", float, 10.0),
        lockstep=d.get("lockstep", bool, False),
        dry_run_log=Path(log) if log else None,
    )
    d.done()
    if not (math.isfinite(cfg.stale_after) and cfg.stale_after >= 1):
        raise d.err("stale_after", f"must be at least 1 period, got {cfg.stale_after}")
    if not (math.isfinite(cfg.connect_timeout) and cfg.connect_timeout > 0):
        raise d.err("connect_timeout", f"must be a positive number of seconds, got {cfg.connect_timeout}")
    names = [cfg.resolve(t.topic) for t in cfg.inputs()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{source}: topic {dup[0]} is configured for two inputs; give each its own topic")
    return cfg


def load_config(path: str | Path) -> Ros2Config:
    """Read and check a CONFIG.yaml (a clear error naming the file and key on any problem)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"ROS 2 robot config {p}: no such file; write one (`physai ros2 sim --task T "
            f"--write-config {p}` writes an example)"
        )
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_config(data, str(p))


def dump_config(cfg: Ros2Config) -> dict:  # noqa: C901
    """The YAML document of `cfg` (inverse of `parse_config`)."""

    def qos(q: QosConfig | None) -> dict | None:
        return (
            None
            if q is None
            else {"reliability": q.reliability, "durability": q.durability, "depth": q.depth}
        )

    def topic(t: TopicConfig, default_type: str) -> dict:
        doc: dict[str, Any] = {"topic": t.topic}
        if t.type != default_type:
            doc["type"] = t.type
        if t.hz is not None:
            doc["hz"] = t.hz
        if t.qos is not None:
            doc["qos"] = qos(t.qos)
        return doc

    c = cfg.command
    cmd: dict[str, Any] = {"interface": c.interface, "topic": c.topic.topic}
    if c.interface == "twist":
        cmd["frame_id"] = c.frame_id
    if c.channels is not None:
        cmd["channels"] = list(c.channels)
    if c.gripper is not None:
        cmd["gripper"] = {
            **topic(c.gripper, "std_msgs/msg/Float64MultiArray"),
            "channels": list(c.gripper_channels),
        }
    doc: dict[str, Any] = {
        "embodiment": cfg.embodiment,
        "control": cfg.control,
        "hz": cfg.hz,
        "domain_id": cfg.domain_id,
        "namespace": cfg.namespace,
        "stale_after": cfg.stale_after,
        "connect_timeout": cfg.connect_timeout,
        "qos": qos(cfg.qos),
    }
    if cfg.joint_states is not None:
        doc["joint_states"] = topic(cfg.joint_states, "sensor_msgs/msg/JointState")
        if cfg.joint_names:
            doc["joint_states"]["names"] = dict(cfg.joint_names)
    if cfg.poses:
        doc["poses"] = {k: topic(t, "geometry_msgs/msg/PoseStamped") for k, t in cfg.poses.items()}
    if cfg.tcp:
        doc["tcp"] = cfg.tcp
    if cfg.wrenches:
        doc["wrenches"] = {k: topic(t, "geometry_msgs/msg/WrenchStamped") for k, t in cfg.wrenches.items()}
    if cfg.cameras:
        doc["cameras"] = {k: topic(t, "sensor_msgs/msg/Image") for k, t in cfg.cameras.items()}
    if cfg.tactile is not None:
        doc["tactile"] = topic(cfg.tactile, "std_msgs/msg/Float64MultiArray")
    if cfg.extras is not None:
        doc["extras"] = {
            **topic(cfg.extras, "std_msgs/msg/Float64MultiArray"),
            "names": list(cfg.extra_names),
        }
    if cfg.episode is not None:
        doc["episode"] = topic(cfg.episode, "std_msgs/msg/Float64MultiArray")
    if cfg.instruction is not None:
        doc["instruction"] = cfg.instruction
    if cfg.lockstep:
        doc["lockstep"] = True
    if cfg.dry_run_log is not None:
        doc["dry_run_log"] = str(cfg.dry_run_log)
    doc["command"] = cmd
    return doc
