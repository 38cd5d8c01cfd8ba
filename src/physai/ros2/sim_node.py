"""`SimRobotNode`: a physai sim task as a ROS 2 robot (`physai ros2 sim --task T`).

The task runs free, like hardware: every control period (the task's rate, paced on the wall clock) the
node applies the newest command received since the previous tick, steps the simulation and publishes
what a ROS 2 arm publishes, stamped with the measurement time (the node's ROS time at start plus the
simulated time, so the stamps advance by exactly one period per step):

- `joint_states` (sensor_msgs/JointState: the robot's joints by name, `gripper` = gripper width);
- `tcp_pose` and `<prefix>/pose` (geometry_msgs/PoseStamped: the TCP and every other named pose, e.g.
  the task's objects, as a perception system would), `<prefix>/wrench` (geometry_msgs/WrenchStamped);
- `camera/<cam>/image_raw` (sensor_msgs/Image rgb8) or `.../compressed` (CompressedImage, jpeg);
- `tactile`, `task_state` (the other state elements, named in the config) and `physai/episode`
  ([success, done]) as std_msgs/Float64MultiArray.

It accepts one command interface: `twist` (geometry_msgs/TwistStamped on `servo/twist`, the MoveIt Servo
convention, for ee_delta tasks), `forward_position` / `forward_velocity` (Float64MultiArray on
`forward_{position,velocity}_controller/commands`) or `joint_trajectory` (`joint_trajectory_controller/
joint_trajectory`) for joint_pos tasks; a gripper channel comes on `gripper/commands`. A tick without a
new command keeps the last position target, and the last base velocity until it is older than
`command_timeout` (0.1 s, MoveIt Servo's default incoming-command timeout), then zero. Twists are the
ee_delta robot's increments (twist x period): all those received since the previous tick are applied
together, once, so the robot's commanded pose stays the sum of what the supervisor sent (a twist
dropped or applied twice would make the two disagree). With `lockstep` the
node instead steps once per command received (like the `sim:` driver per write), so a run through ROS 2
reproduces the direct driver exactly whatever the machine's load. `driver_config()` is the
`Ros2Config` a `Ros2Driver` needs to drive this node.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque

import numpy as np

from physai.core.errors import ConfigError
from physai.ros2 import layout, msgs
from physai.ros2.config import (
    INTERFACE_CONTROLS,
    INTERFACE_TYPES,
    CommandConfig,
    QosConfig,
    Ros2Config,
    TopicConfig,
)
from physai.ros2.node import RosNode, qos_profile

DEFAULT_INTERFACE = {
    "ee_delta": "twist",
    "joint_pos": "forward_position",
    "base_velocity": "forward_velocity",
}
COMMAND_TOPICS = {
    "twist": "servo/twist",
    "forward_position": "forward_position_controller/commands",
    "forward_velocity": "forward_velocity_controller/commands",
    "joint_trajectory": "joint_trajectory_controller/joint_trajectory",
}
GRIPPER_TOPIC = "gripper/commands"
FRAME = "world"


def _topic_name(prefix: str) -> str:
    return re.sub(r"[^A-Za-z0-9_/]", "_", prefix).strip("/") or "x"


class SimRobotNode:
    """A `SimDriver` of `task` published as a ROS 2 robot; `start()`, then `close()`."""

    def __init__(
        self,
        task: str,
        control: str | None = None,
        interface: str | None = None,
        seed: int = 0,
        hz: float | None = None,
        cameras: tuple[str, ...] | list[str] = (),
        image_size: tuple[int, int] = (128, 128),
        compressed: bool = False,
        domain_id: int = 0,
        namespace: str = "",
        max_steps: int | None = None,
        tactile: bool = False,
        lockstep: bool = False,
        command_timeout: float = 0.1,
    ) -> None:
        from physai.deploy.drivers.sim import SimDriver

        self.sim = SimDriver(
            task,
            control=control,
            hz=hz,
            seed=seed,
            cameras=list(cameras),
            image_size=image_size,
            realtime=True,
            max_steps=max_steps,
            tactile=tactile,
        )
        self.task, self.interface_req, self.lockstep = task, interface, lockstep
        self.command_timeout = command_timeout
        self._motion: tuple[np.ndarray, float] | None = None
        self.compressed, self.domain_id, self.namespace = compressed, domain_id, namespace
        self.ros: RosNode | None = None
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self.muted = False
        """Tests/drills: stop publishing (the robot looks frozen to a driver) while the sim runs on."""
        self.stamp_offset = 0.0
        """Tests/drills: added to every header stamp (a negative jump is a ROS clock jump)."""
        self.ticks = 0
        self.commands = 0
        """Commands received on the command topic."""
        self.error: BaseException | None = None
        self.received: deque[np.ndarray] = deque(maxlen=10000)
        """The last commands received, decoded to the env's action (checks and drills)."""
        self.trace: list[tuple[str, float]] | None = None
        """Benchmarks: set to a list to get ("state", t) after each publish and ("command", t) on each
        command receipt (time.perf_counter)."""

    # ------------------------------------------------------------------ set-up
    def start(self) -> SimRobotNode:
        """Connect the sim, create the node and its topics, start ticking at the task rate."""
        info = self.sim.connect()
        self.info, self.hz, self.dt = info, info.hz, 1.0 / info.hz
        self.interface = self.interface_req or DEFAULT_INTERFACE[info.control]
        if info.control not in INTERFACE_CONTROLS.get(self.interface, ()):
            self.sim.disconnect()
            ok = [i for i, c in INTERFACE_CONTROLS.items() if info.control in c]
            raise ConfigError(
                f"--command-interface {self.interface} cannot carry the {info.control} "
                f"commands of {self.task}; use {' or '.join(ok)}"
            )
        self.groups = layout.split(info.state_names)
        self.names = list(info.state_names)
        self.actions = list(info.action_names)
        self.limit_joints = list(info.safety_limits.joint_names)
        self.grip = [n for n in self.actions if n.endswith("gripper")]
        self.chan = [n for n in self.actions if n not in self.grip]
        self.tcp = "ee" if "ee" in self.groups.poses else None
        reading = self.sim.read()
        self._cmd = self._initial_hold(reading)
        self._new: np.ndarray | None = None
        self.ros = ros = RosNode(
            f"physai_sim_{_topic_name(self.task).replace('/', '_')}", self.domain_id, self.namespace
        )
        try:
            self._make_topics(ros)
        except BaseException:
            self.close()
            raise
        self._t0 = ros.now()
        self._publish(reading)
        if not self.lockstep:
            self._thread = threading.Thread(target=self._run, name="physai-ros2-sim", daemon=True)
            self._thread.start()
        return self

    def _initial_hold(self, reading) -> np.ndarray:
        """The command that keeps the robot where it starts (zero motion, gripper as it is)."""
        info, env = self.info, self.sim.env
        low, high = np.asarray(info.action_low, float), np.asarray(info.action_high, float)
        if info.control == "joint_pos":
            cmd = np.clip((low + high) / 2, low, high)
            for i, n in enumerate(self.actions):
                if n in self.limit_joints:
                    cmd[i] = reading.robot.joint_pos[self.limit_joints.index(n)]
        else:
            cmd = np.zeros(len(self.actions))
        assert env is not None
        r = env.robot
        if self.grip and hasattr(r, "gripper_width"):
            cmd[self.actions.index(self.grip[0])] = float(np.clip(1.0 - r.gripper_width() / 0.08, 0, 1))
        return cmd

    def _make_topics(self, ros: RosNode) -> None:
        q = qos_profile(self._qos())
        from geometry_msgs.msg import PoseStamped, WrenchStamped
        from sensor_msgs.msg import CompressedImage, Image, JointState
        from std_msgs.msg import Float64MultiArray

        n = ros.node
        self._pub_js = n.create_publisher(JointState, "joint_states", q)
        self._pub_pose = {
            p: n.create_publisher(PoseStamped, self._pose_topic(p), q) for p in self.groups.poses
        }
        self._pub_wrench = {
            p: n.create_publisher(WrenchStamped, f"{_topic_name(p)}/wrench", q) for p in self.groups.wrenches
        }
        img_t = CompressedImage if self.compressed else Image
        self._pub_cam = {c: n.create_publisher(img_t, self._cam_topic(c), q) for c in self.info.cameras}
        self._pub_extra = (
            n.create_publisher(Float64MultiArray, "task_state", q) if self.groups.extras else None
        )
        self._pub_tac = n.create_publisher(Float64MultiArray, "tactile", q) if self.info.tactile_dim else None
        self._pub_ep = n.create_publisher(Float64MultiArray, "physai/episode", q)
        if self.grip:  # before the command: of two ready messages the executor takes this one first
            n.create_subscription(Float64MultiArray, GRIPPER_TOPIC, self._on_gripper, q)
        cls = msgs.msg_class(INTERFACE_TYPES[self.interface])
        n.create_subscription(cls, COMMAND_TOPICS[self.interface], self._on_command, q)

    def _qos(self) -> QosConfig:
        """Lockstep: transient_local, so a driver that joins later gets the state the sim waits in."""
        return QosConfig(durability="transient_local" if self.lockstep else "volatile", depth=1)

    def _pose_topic(self, p: str) -> str:
        return "tcp_pose" if p == self.tcp else f"{_topic_name(p)}/pose"

    def _cam_topic(self, c: str) -> str:
        return f"camera/{_topic_name(c)}/image_raw" + ("/compressed" if self.compressed else "")

    def driver_config(self, stale_after: float | None = None) -> Ros2Config:
        """The CONFIG a `Ros2Driver` connects to this node with (`stale_after` default: 3 periods
        free-running, like hardware; 10 in lockstep, where it bounds the wait for the sim's step)."""
        if stale_after is None:
            stale_after = 10.0 if self.lockstep else 3.0
        t = TopicConfig
        img = "sensor_msgs/msg/CompressedImage" if self.compressed else "sensor_msgs/msg/Image"
        return Ros2Config(
            embodiment=self.info.embodiment,
            control=self.info.control,
            hz=self.hz,
            command=CommandConfig(
                interface=self.interface,
                topic=t(COMMAND_TOPICS[self.interface], INTERFACE_TYPES[self.interface], key="command"),
                channels=tuple(self.chan),
                frame_id=FRAME,
                gripper=t(GRIPPER_TOPIC, "std_msgs/msg/Float64MultiArray", key="command.gripper")
                if self.grip
                else None,
                gripper_channels=tuple(self.grip),
            ),
            joint_states=t("joint_states", "sensor_msgs/msg/JointState", key="joint_states"),
            poses={
                p: t(self._pose_topic(p), "geometry_msgs/msg/PoseStamped", key=f"poses.{p}")
                for p in self.groups.poses
            },
            tcp=self.tcp,
            wrenches={
                p: t(f"{_topic_name(p)}/wrench", "geometry_msgs/msg/WrenchStamped", key=f"wrenches.{p}")
                for p in self.groups.wrenches
            },
            cameras={c: t(self._cam_topic(c), img, key=f"cameras.{c}") for c in self.info.cameras},
            tactile=t("tactile", "std_msgs/msg/Float64MultiArray", key="tactile") if self._pub_tac else None,
            extras=t("task_state", "std_msgs/msg/Float64MultiArray", key="extras")
            if self._pub_extra
            else None,
            extra_names=self.groups.extras,
            episode=t("physai/episode", "std_msgs/msg/Float64MultiArray", key="episode"),
            domain_id=self.domain_id,
            namespace=self.namespace,
            stale_after=stale_after,
            lockstep=self.lockstep,
            qos=self._qos(),
        )

    # ------------------------------------------------------------------ commands (executor thread)
    def _on_command(self, m: object) -> None:
        if self.trace is not None:
            self.trace.append(("command", time.perf_counter()))
        try:
            a = self._decode(m)
        except Exception as e:
            self.error = e
            return
        with self._lock:
            if self.interface == "twist" and self._new is not None:  # increments add up, never dropped
                idx = [self.actions.index(n) for n in self.chan]
                a[idx] += self._new[idx]
            self._new = a
            self.commands += 1
            self.received.append(a)
        if self.lockstep:
            try:
                self._tick()
            except BaseException as e:
                self.error = e

    def _decode(self, m: object) -> np.ndarray:
        with self._lock:
            base = self._cmd.copy()
        idx = [self.actions.index(n) for n in self.chan]
        if self.interface == "twist":
            lin, ang = m.twist.linear, m.twist.angular  # type: ignore[attr-defined]
            base[idx] = np.array([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z]) * self.dt
        elif self.interface == "joint_trajectory":
            if not m.points:  # type: ignore[attr-defined]
                q = self._last_q
                for i, n in zip(idx, self.chan, strict=True):
                    if n in self.limit_joints:
                        base[i] = q[self.limit_joints.index(n)]
                return base
            pos = m.points[-1].positions  # type: ignore[attr-defined]
            for name, p in zip(m.joint_names, pos, strict=True):  # type: ignore[attr-defined]
                base[self.actions.index(name)] = p
        else:
            data = np.asarray(m.data, dtype=np.float64)  # type: ignore[attr-defined]
            if data.size != len(idx):
                raise ConfigError(f"command has {data.size} values, {len(idx)} expected ({self.chan})")
            if self.interface == "forward_velocity" and self.info.control == "joint_pos":
                base[idx] = base[idx] + data * self.dt
            else:
                base[idx] = data
        return base

    def _on_gripper(self, m: object) -> None:
        data = np.asarray(m.data, dtype=np.float64)  # type: ignore[attr-defined]
        if data.size != len(self.grip):
            return
        with self._lock:
            for n, v in zip(self.grip, data, strict=True):
                self._cmd[self.actions.index(n)] = v
                if self._new is not None:
                    self._new[self.actions.index(n)] = v

    # ------------------------------------------------------------------ the robot's own loop
    def _take(self) -> np.ndarray:
        with self._lock:
            now = time.monotonic()
            idx = [self.actions.index(n) for n in self.chan]
            velocity = self.interface == "forward_velocity" and self.info.control != "joint_pos"
            increments = self.interface == "twist"
            if self._new is not None:
                cmd, self._new = self._new, None
                self._motion = (cmd[idx].copy(), now)
            else:  # no new command: a position target stays; a velocity persists until its timeout
                cmd = self._cmd.copy()
                if velocity:
                    last = self._motion
                    fresh = last is not None and now - last[1] <= self.command_timeout
                    cmd[idx] = last[0] if fresh else 0.0  # type: ignore[index]
                elif increments:
                    cmd[idx] = 0.0
            self._cmd = cmd.copy()
            if velocity or increments:  # the next command is decoded onto "no motion" (gripper kept)
                self._cmd[idx] = 0.0
            return cmd

    def _tick(self) -> None:
        """Apply the newest command (or hold), step one period, publish."""
        cmd = np.clip(self._take(), self.info.action_low, self.info.action_high)
        self.sim.write(cmd)
        self.ticks += 1
        self._publish(self.sim.read())

    def _run(self) -> None:
        try:
            while not self._quit.is_set():
                self._tick()
        except BaseException as e:
            self.error = e

    def _publish(self, r) -> None:
        self._last_q = np.asarray(r.robot.joint_pos, float)
        if self.muted or self.ros is None:
            return
        stamp = self._t0 + self.sim._sim_time + self.stamp_offset  # measurement time: the sim's clock
        st = np.asarray(r.obs["state"], float)
        by = dict(zip(self.names, st, strict=True))
        from sensor_msgs.msg import JointState

        js = JointState()
        js.header.stamp, js.header.frame_id = msgs.to_time(stamp), FRAME
        joints = self.limit_joints + [j for j in self.groups.joints if j not in self.limit_joints]
        q = dict(zip(self.limit_joints, r.robot.joint_pos, strict=True))
        pos = [q[j] if j in q else by.get(f"{j}.pos", by.get(f"{j}.width", np.nan)) for j in joints]
        js.name = joints
        js.position = [float(x) for x in pos]
        js.velocity = [float(by.get(f"{j}.vel", np.nan)) for j in joints]
        js.effort = [float(by.get(f"{j}.torque", np.nan)) for j in joints]
        self._pub_js.publish(js)
        for p, pub in self._pub_pose.items():
            v = [by.get(f"{p}.pos.{a}", 0.0) for a in "xyz"]
            quat = [by.get(f"{p}.quat.{a}") for a in "wxyz"]
            pub.publish(
                msgs.pose_msg(np.array(v + ([1.0, 0, 0, 0] if None in quat else quat), float), stamp, FRAME)
            )
        for p, pub in self._pub_wrench.items():
            w = [by.get(f"{p}.force.{a}", 0.0) for a in "xyz"] + [
                by.get(f"{p}.torque.{a}", 0.0) for a in "xyz"
            ]
            pub.publish(msgs.wrench_msg(np.array(w), stamp, FRAME))
        for c, pub in self._pub_cam.items():
            img = r.obs[f"images/{c}"]
            pub.publish(
                msgs.compressed_msg(img, stamp, c) if self.compressed else msgs.image_msg(img, stamp, c)
            )
        if self._pub_extra is not None:
            self._pub_extra.publish(
                msgs.array_msg(np.array([by[n] for n in self.groups.extras]), "task_state")
            )
        if self._pub_tac is not None:
            self._pub_tac.publish(msgs.array_msg(np.asarray(r.obs["tactile"]), "tactile"))
        self._pub_ep.publish(msgs.array_msg(np.array([float(r.success), float(r.done)]), "success,done"))
        if self.trace is not None:
            self.trace.append(("state", time.perf_counter()))

    @property
    def done(self) -> bool:
        """The episode ended (success, failure or time limit)."""
        return bool(self.sim._done)

    @property
    def success(self) -> bool:
        """The task reported success."""
        return bool(self.sim._info.get("is_success"))

    def check(self) -> None:
        """Raise the error that stopped the node's loop, if any."""
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop ticking, close the node and the simulation."""
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.ros is not None:
            self.ros.close()
            self.ros = None
        self.sim.disconnect()

    def __enter__(self) -> SimRobotNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
