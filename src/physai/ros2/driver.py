"""`Ros2Driver`: a ROS 2 robot behind the `RobotDriver` protocol (`--robot ros2:CONFIG.yaml`).

A node spun on a background thread caches the newest message of every configured topic with its header
stamp; `read()` assembles the package's state vector by element NAME (joint states by joint name, poses,
wrenches, an extras array), the images (raw or compressed), tactile and the robot state the supervisor
watches; `write()` sends the supervised command on the configured interface.

Safety:
- `connect()` refuses, before anything moves, a topic that is missing, has another type, is silent, or
  lacks a joint / element the package needs; and a command topic nobody subscribes to;
- a topic whose header stamp has not advanced for `stale_after` of its periods, or whose stamp jumps
  back (a ROS clock jump), latches a driver fault naming the topic: from then on no command is sent
  (the driver sends its hold instead) and the reported `RobotState.stamp` is frozen, so the supervisor
  latches its `stale_state` protective stop within `stale_cycles` cycles;
- dry run: everything is read and checked, commands are logged (memory, `dry_run_log` JSONL), never sent.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from physai.core.contract import PolicyContract
from physai.core.errors import ConfigError, SafetyError
from physai.deploy.drivers.base import DriverInfo, Reading
from physai.deploy.safety import RobotState
from physai.ros2 import layout, msgs
from physai.ros2.config import Ros2Config, TopicConfig
from physai.ros2.node import RosNode, qos_profile

STAMP_JUMP_TOLERANCE = 1e-6
"""A header stamp this much (s) earlier than the topic's previous one is a clock jump."""


@dataclass
class _Latest:
    """The newest message of one topic and when its stamp last advanced."""

    msg: object | None = None
    stamp: float | None = None
    """Header stamp of `msg` (None: headerless type)."""
    advanced: float = 0.0
    """Monotonic time the stamp last advanced (headerless: the last receipt)."""
    count: int = 0


class Ros2Driver:
    """Drives a ROS 2 robot described by a `Ros2Config` for a package's `contract`."""

    def __init__(
        self,
        cfg: Ros2Config,
        contract: PolicyContract | None,
        dry_run: bool = False,
        source: str = "<config>",
    ) -> None:
        self.cfg, self.contract, self.dry_run, self.source = cfg, contract, dry_run, source
        self.period = 1.0 / cfg.hz
        self.ros: RosNode | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._await: dict[str, int] | None = None
        self._latest: dict[str, _Latest] = {}
        self._joints: dict[str, tuple[float, float, float]] = {}
        self._fault: str | None = None
        self.faults: list[str] = []
        """Every driver fault (stale topic, clock jump), first one latched."""
        self.commands_logged: list[dict] = []
        """Dry run: the commands that would have been sent (cycle time, channel values)."""
        self.sent = 0
        """Commands published."""
        self._frozen: float | None = None
        self._last_cmd: np.ndarray | None = None
        self._last_stamp = 0.0
        self._log: TextIO | None = None
        self._action_names: list[str] = list(contract.action_names) if contract is not None else []

    # ------------------------------------------------------------------ set-up
    def _plan(self, contract: PolicyContract) -> None:  # noqa: C901
        """Map every state element and action channel to its source/destination, or refuse naming the key."""
        cfg, plan = self.cfg, []
        extras = {n: i for i, n in enumerate(cfg.extra_names)}
        for n in contract.state_names:
            if n in extras and cfg.extras is not None:
                plan.append(("extra", "", extras[n]))
            elif (p := layout.pose_slot(n)) and p[0] in cfg.poses:
                plan.append(("pose", p[0], p[1]))
            elif (w := layout.wrench_slot(n)) and w[0] in cfg.wrenches:
                plan.append(("wrench", w[0], w[1]))
            elif (j := layout.joint_slot(n)) and cfg.joint_states is not None:
                plan.append(
                    ("joint", cfg.joint_names.get(j[0], j[0]), ("position", "velocity", "effort").index(j[1]))
                )
            else:
                raise ConfigError(
                    f"{self.source}: the package reads state element {n!r} but the config gives it no "
                    f"source; add a `poses`/`wrenches` entry for its prefix, a `joint_states` topic, or list "
                    f"it in `extras.names`"
                )
        self._state_plan = plan
        for cam in contract.camera_names:
            if cam not in cfg.cameras:
                raise ConfigError(
                    f"{self.source}: the package reads camera {cam!r} but `cameras` has "
                    f"{sorted(cfg.cameras) or 'none'}; add `cameras.{cam}.topic`"
                )
        if contract.tactile_dim and cfg.tactile is None:
            raise ConfigError(
                f"{self.source}: the package reads tactile ({contract.tactile_dim} values); "
                "add `tactile.topic`"
            )
        if contract.instruction == "input" and not cfg.instruction:
            raise ConfigError(f"{self.source}: the package takes an instruction; set `instruction`")
        names = list(contract.action_names)
        c = cfg.command
        for ch in c.gripper_channels:
            if ch not in names:
                raise ConfigError(
                    f"{self.source}: `command.gripper.channels` names {ch!r}, not an action "
                    f"channel of the package ({', '.join(names)})"
                )
        chans = (
            list(c.channels) if c.channels is not None else [n for n in names if n not in c.gripper_channels]
        )
        for ch in chans:
            if ch not in names:
                raise ConfigError(
                    f"{self.source}: `command.channels` names {ch!r}, not an action channel "
                    f"of the package ({', '.join(names)})"
                )
        missing = [n for n in names if n not in chans and n not in c.gripper_channels]
        if missing:
            raise ConfigError(
                f"{self.source}: action channels {missing} are sent nowhere; add them to "
                "`command.channels` or `command.gripper.channels`"
            )
        if c.interface == "twist" and len(chans) != 6:
            raise ConfigError(
                f"{self.source}: a twist command carries 6 channels (dx dy dz drx dry drz), "
                f"`command.channels` has {chans}; send the others on `command.gripper`"
            )
        self._cmd_idx = np.array([names.index(n) for n in chans], int)
        self._cmd_names = chans
        self._grip_idx = np.array([names.index(n) for n in c.gripper_channels], int)

    def _subscribe(self, t: TopicConfig, kind: str) -> None:
        ros = self.ros
        assert ros is not None
        name = self.cfg.resolve(t.topic)
        slot = self._latest[name] = _Latest()
        cls = msgs.msg_class(t.type)
        is_js = kind == "joint_states"

        def cb(msg: object, slot: _Latest = slot, name: str = name) -> None:
            now = time.monotonic()
            st = msgs.stamp_s(msg)
            with self._lock:
                if st is not None and slot.stamp is not None and st < slot.stamp - STAMP_JUMP_TOLERANCE:
                    self._set_fault(
                        f"topic {name}: header stamp jumped back {slot.stamp - st:.3f} s (from "
                        f"{slot.stamp:.3f} to {st:.3f}): the ROS clock jumped"
                    )
                if st is None or slot.stamp is None or st > slot.stamp:
                    slot.advanced = now
                slot.msg, slot.stamp, slot.count = msg, st if st is not None else slot.stamp, slot.count + 1
                self._arrived.notify_all()
                if is_js:
                    n = len(msg.name)  # type: ignore[attr-defined]
                    pos, vel, eff = msg.position, msg.velocity, msg.effort  # type: ignore[attr-defined]
                    for i, j in enumerate(msg.name):  # type: ignore[attr-defined]
                        self._joints[j] = (
                            pos[i] if len(pos) == n else np.nan,
                            vel[i] if len(vel) == n else np.nan,
                            eff[i] if len(eff) == n else np.nan,
                        )

        try:
            ros.node.create_subscription(cls, name, cb, qos_profile(t.qos or self.cfg.qos))
        except Exception as e:
            raise ConfigError(
                f"{self.source}: cannot subscribe to {name} (`{t.key}`) as {t.type}: "
                f"{str(e).split(', at ')[0]}"
            ) from None

    def connect(self) -> DriverInfo:
        from physai.embodiments import make_embodiment

        cfg, contract = self.cfg, self.contract
        if contract is None:
            raise ConfigError(
                "the ros2 driver builds the observation a package reads; run it with a package "
                "(physai run --package P --robot ros2:CONFIG.yaml)"
            )
        emb = make_embodiment(cfg.embodiment)
        limits = emb.safety_limits()
        self._plan(contract)
        self._limit_joints = [cfg.joint_names.get(j, j) for j in limits.joint_names]
        self.ros = RosNode(f"physai_driver_{os.getpid()}_{id(self) % 10000}", cfg.domain_id, cfg.namespace)
        try:
            return self._connect(contract, limits)
        except BaseException:
            self.disconnect()
            raise

    def _connect(self, contract: PolicyContract, limits) -> DriverInfo:  # noqa: C901
        cfg, ros = self.cfg, self.ros
        assert ros is not None
        inputs = {cfg.resolve(t.topic): t for t in cfg.inputs()}
        # the graph before this node joins it: a local endpoint of another type would hide the remote one
        ros.wait_for(lambda: all(n in ros.topic_types() for n in inputs), cfg.connect_timeout)
        types = ros.topic_types()
        absent = [n for n in inputs if n not in types]
        if absent:
            also = f" (also missing: {', '.join(absent[1:])})" if absent[1:] else ""
            raise ConfigError(_silent(absent[0], inputs[absent[0]], [], self.source) + also)
        for name, t in inputs.items():
            if t.type not in types.get(name, []):
                raise ConfigError(_silent(name, t, types.get(name, []), self.source))
        for t in cfg.outputs():
            name = cfg.resolve(t.topic)
            have = [x for x in types.get(name, []) if x != t.type]
            if have:
                raise ConfigError(
                    f"{self.source}: command topic {name} (`{t.key}`) has type {have[0]} on the "
                    f"robot but the config sends {t.type}; fix `command.interface` or `{t.key}.topic`"
                )
        if cfg.joint_states is not None:
            self._subscribe(cfg.joint_states, "joint_states")
        for t in [*cfg.poses.values(), *cfg.wrenches.values(), *cfg.cameras.values()]:
            self._subscribe(t, "")
        for opt in (cfg.tactile, cfg.extras, cfg.episode):
            if opt is not None:
                self._subscribe(opt, "")
        c = cfg.command
        self._pub = ros.node.create_publisher(
            msgs.msg_class(c.topic.type), cfg.resolve(c.topic.topic), qos_profile(c.topic.qos or cfg.qos)
        )
        self._gpub = None
        if c.gripper is not None:
            self._gpub = ros.node.create_publisher(
                msgs.msg_class(c.gripper.type),
                cfg.resolve(c.gripper.topic),
                qos_profile(c.gripper.qos or cfg.qos),
            )
        ros.wait_for(lambda: all(s.count for s in self._latest.values()), cfg.connect_timeout)
        for name, t in inputs.items():
            if not self._latest[name].count:
                raise ConfigError(_silent(name, t, [t.type], self.source))
        if not self.dry_run:
            pubs = [self._pub] + ([self._gpub] if self._gpub is not None else [])
            if not ros.wait_for(lambda: all(p.get_subscription_count() for p in pubs), cfg.connect_timeout):
                idle = [p.topic_name for p in pubs if not p.get_subscription_count()]
                raise ConfigError(
                    f"nobody subscribes to the command topic {idle[0]}: is the robot's "
                    "controller running and active? (check with `physai ros2 doctor`)"
                )
        self._check_layout(contract)
        with self._lock:  # the stamp a fault before the first read() freezes at
            stamps = [v.stamp for v in self._latest.values() if v.stamp is not None]
            self._last_stamp = max(stamps, default=0.0)
        image_size = None
        with self._lock:
            for cam, t in cfg.cameras.items():
                img = msgs.image_array(self._latest[cfg.resolve(t.topic)].msg, cfg.resolve(t.topic))
                if image_size is None:
                    image_size = (int(img.shape[0]), int(img.shape[1]))
                elif img.shape[:2] != image_size:
                    raise ConfigError(
                        f"camera {cam} publishes {img.shape[1]}x{img.shape[0]} images, the "
                        f"other cameras {image_size[1]}x{image_size[0]}; use one image size"
                    )
            tdim = (
                0
                if cfg.tactile is None
                else int(msgs.array_vec(self._latest[cfg.resolve(cfg.tactile.topic)].msg).size)
            )
        if cfg.dry_run_log is not None and self.dry_run:
            self._log = Path(cfg.dry_run_log).open("a")
        low = np.asarray(
            contract.action_low
            if contract.action_low is not None
            else [-np.inf] * len(contract.action_names),
            float,
        )
        high = np.asarray(
            contract.action_high
            if contract.action_high is not None
            else [np.inf] * len(contract.action_names),
            float,
        )
        return DriverInfo(
            embodiment=cfg.embodiment,
            control=cfg.control,
            hz=cfg.hz,
            state_names=list(contract.state_names),
            action_names=list(contract.action_names),
            action_low=low,
            action_high=high,
            safety_limits=limits,
            cameras=list(cfg.cameras),
            image_size=image_size,
            tactile_dim=tdim,
            kinematics=None,
        )

    def _check_layout(self, contract: PolicyContract) -> None:
        cfg = self.cfg
        with self._lock:
            have = set(self._joints)
        need = [j for j in self._limit_joints if j not in have]
        need += [k for kind, k, _ in self._state_plan if kind == "joint" and k not in have and k not in need]
        if need:
            assert cfg.joint_states is not None or not need
            js = cfg.resolve(cfg.joint_states.topic) if cfg.joint_states else "(no joint_states)"
            raise ConfigError(
                f"{self.source}: joint {need[0]!r} is not in {js} (it has: "
                f"{', '.join(sorted(have)) or 'none'}); map it with `joint_states.names`"
            )
        if cfg.extras is not None:
            n = msgs.array_vec(self._latest[cfg.resolve(cfg.extras.topic)].msg).size
            if n != len(cfg.extra_names):
                raise ConfigError(
                    f"{self.source}: {cfg.resolve(cfg.extras.topic)} carries {n} values but "
                    f"`extras.names` lists {len(cfg.extra_names)}"
                )
        if cfg.control == "ee_delta" and cfg.tcp is None:
            raise ConfigError(
                f"{self.source}: an ee_delta robot needs its TCP pose for the supervisor; set "
                "`tcp` to the `poses` entry of the TCP"
            )

    # ------------------------------------------------------------------ faults
    def _set_fault(self, reason: str) -> None:
        """Latch a driver fault (caller holds the lock): no more commands, the reported stamp freezes."""
        self.faults.append(reason)
        if self._fault is None:
            self._fault = reason
            self._frozen = self._last_stamp

    @property
    def fault(self) -> str | None:
        """The latched fault (None: healthy)."""
        return self._fault

    def _check_fresh(self, now: float) -> None:
        if self._fault is not None:
            return
        for name, s in self._latest.items():
            t = self._topic_of(name)
            limit = self.cfg.stale_after / self.cfg.rate(t)
            age = now - s.advanced
            if age > limit:
                self._set_fault(
                    f"topic {name} is stale: no newer header stamp for {age:.3f} s (> "
                    f"{self.cfg.stale_after:g} periods at {self.cfg.rate(t):g} Hz)"
                )
                return

    def _wait_lockstep(self) -> None:
        """Lockstep: wait (lock held) for every input topic to deliver after the last command."""
        want, self._await = self._await, None
        if want is None or self._fault is not None:
            return
        timeout = self.cfg.stale_after * self.period
        if not self._arrived.wait_for(
            lambda: all(self._latest[k].count > n for k, n in want.items()), timeout
        ):
            late = [k for k, n in want.items() if self._latest[k].count <= n]
            self._set_fault(
                f"topic {late[0]} is stale: no message within {timeout:.3f} s of the last command "
                f"(lockstep, {self.cfg.stale_after:g} periods)"
            )

    def _topic_of(self, name: str) -> TopicConfig:
        if not hasattr(self, "_by_name"):
            self._by_name = {self.cfg.resolve(t.topic): t for t in self.cfg.inputs()}
        return self._by_name[name]

    # ------------------------------------------------------------------ read / write
    def read(self) -> Reading:
        cfg = self.cfg
        if self.ros is None:
            raise ConfigError("the ros2 driver is not connected; call connect() first")
        with self._lock:
            if cfg.lockstep:
                self._wait_lockstep()
            else:
                self._check_fresh(time.monotonic())
            latest = {k: (v.msg, v.stamp) for k, v in self._latest.items()}
            joints = dict(self._joints)
            poses = {p: msgs.pose_vec(latest[cfg.resolve(t.topic)][0]) for p, t in cfg.poses.items()}
            wrenches = {p: msgs.wrench_vec(latest[cfg.resolve(t.topic)][0]) for p, t in cfg.wrenches.items()}
            extras = (
                msgs.array_vec(latest[cfg.resolve(cfg.extras.topic)][0])
                if cfg.extras is not None
                else np.zeros(0)
            )
            js = latest[cfg.resolve(cfg.joint_states.topic)][1] if cfg.joint_states else None
            stamp = (
                js if js is not None else max((s for _, s in latest.values() if s is not None), default=None)
            )
            if stamp is not None and self._fault is None:
                self._last_stamp = stamp
            if self._fault is not None:
                stamp = self._frozen
        state = np.empty(len(self._state_plan), np.float32)
        for i, (kind, key, k) in enumerate(self._state_plan):
            if kind == "joint":
                state[i] = joints[key][k]
            elif kind == "pose":
                state[i] = poses[key][k]
            elif kind == "wrench":
                state[i] = wrenches[key][k]
            else:
                state[i] = extras[k]
        obs: dict = {"state": state}
        for cam, t in cfg.cameras.items():
            name = cfg.resolve(t.topic)
            obs[f"images/{cam}"] = msgs.image_array(latest[name][0], name)
        tac = None
        if cfg.tactile is not None:
            tac = msgs.array_vec(latest[cfg.resolve(cfg.tactile.topic)][0])
            obs["tactile"] = tac.astype(np.float32)
        if cfg.instruction is not None:
            obs["instruction"] = cfg.instruction
        success = done = False
        if cfg.episode is not None:
            ep = msgs.array_vec(latest[cfg.resolve(cfg.episode.topic)][0])
            success, done = bool(ep.size > 0 and ep[0] > 0.5), bool(ep.size > 1 and ep[1] > 0.5)
        robot = RobotState(
            joint_pos=np.array([joints[j][0] for j in self._limit_joints], float),
            ee_pos=poses[cfg.tcp][None, :3].copy() if cfg.tcp else None,
            wrench=np.stack([wrenches[p][:6] for p in cfg.wrenches]) if cfg.wrenches else None,
            tactile=tac,
            stamp=stamp,
        )
        self._measured = robot.joint_pos
        return Reading(obs=obs, robot=robot, success=success, done=done)

    def write(self, command: np.ndarray) -> None:
        if self.ros is None:
            raise ConfigError("the ros2 driver is not connected; call connect() first")
        cmd = np.asarray(command, float).ravel()
        if self._fault is not None:
            self._hold()  # nothing moves on stale data: the supervisor's stop follows within stale_cycles
            return
        if self.dry_run:
            rec = {
                "t": time.time(),
                "command": dict(zip(self._action_names, cmd.tolist(), strict=False)),
            }
            self.commands_logged.append(rec)
            if self._log is not None:
                self._log.write(json.dumps(rec) + "\n")
            self._last_cmd = cmd
            return
        if self.cfg.lockstep:
            with self._lock:
                self._await = {k: v.count for k, v in self._latest.items()}
        self._publish(cmd)
        self._last_cmd = cmd

    def _publish(self, cmd: np.ndarray) -> None:
        c, ros = self.cfg.command, self.ros
        assert ros is not None
        vals = cmd[self._cmd_idx]
        if c.interface == "twist":
            from geometry_msgs.msg import TwistStamped

            m = TwistStamped()
            m.header.stamp, m.header.frame_id = msgs.to_time(ros.now()), c.frame_id
            v = (vals / self.period).tolist()
            m.twist.linear.x, m.twist.linear.y, m.twist.linear.z = v[:3]
            m.twist.angular.x, m.twist.angular.y, m.twist.angular.z = v[3:]
        elif c.interface == "joint_trajectory":
            m = self._trajectory(vals)
        elif c.interface == "forward_velocity" and self.cfg.control == "joint_pos":
            prev = self._last_cmd[self._cmd_idx] if self._last_cmd is not None else self._measured_channels()
            m = msgs.array_msg((vals - prev) / self.period, "velocity")
        else:
            m = msgs.array_msg(vals, "command")
        if self._gpub is not None:  # first: a lockstep robot steps on the main command
            self._gpub.publish(msgs.array_msg(cmd[self._grip_idx], "gripper"))
        self._pub.publish(m)
        self.sent += 1

    def _trajectory(self, positions: np.ndarray | None):
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        m = JointTrajectory()
        m.joint_names = [self.cfg.joint_names.get(n, n) for n in self._cmd_names]
        if positions is not None:  # an empty trajectory makes joint_trajectory_controller hold position
            m.points = [
                JointTrajectoryPoint(
                    positions=[float(x) for x in positions], time_from_start=msgs.to_duration(self.period)
                )
            ]
        return m

    def _measured_channels(self) -> np.ndarray:
        """Measured positions of the command channels that are joints (others: the last command or 0)."""
        with self._lock:
            joints = dict(self._joints)
        last = self._last_cmd[self._cmd_idx] if self._last_cmd is not None else np.zeros(len(self._cmd_idx))
        return np.array(
            [
                joints.get(self.cfg.joint_names.get(n, n), (last[i],))[0]
                for i, n in enumerate(self._cmd_names)
            ],
            float,
        )

    def _hold(self) -> None:
        """Command the robot to stay where it is (only once it has been commanded; never in dry run)."""
        if self.dry_run or self.ros is None or self.sent == 0:
            return
        c = self.cfg.command
        if c.interface == "twist":
            self._publish(
                np.zeros(len(self._action_names))
                if self._last_cmd is None
                else _with(self._last_cmd, self._cmd_idx, 0.0)
            )
        elif c.interface == "forward_velocity":
            if self.cfg.control == "joint_pos":
                self._pub.publish(msgs.array_msg(np.zeros(len(self._cmd_idx)), "velocity"))
            else:
                self._pub.publish(msgs.array_msg(np.zeros(len(self._cmd_idx)), "command"))
        elif c.interface == "joint_trajectory":
            self._pub.publish(self._trajectory(None))
        else:
            self._pub.publish(msgs.array_msg(self._measured_channels(), "command"))

    def stop(self) -> None:
        """Hold: zero twist / velocity, measured joints (forward position), an empty trajectory."""
        if self.ros is not None:
            self._hold()

    def disconnect(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.ros is not None:
            self.ros.close()
            self.ros = None


def _with(cmd: np.ndarray, idx: np.ndarray, value: float) -> np.ndarray:
    out = np.array(cmd, float)
    out[idx] = value
    return out


def _silent(name: str, t: TopicConfig, have: list[str], source: str) -> str:
    """Why topic `name` delivered nothing: nobody publishes it, they publish another type, or silent."""
    if not have:
        return (
            f"{source}: topic {name} (`{t.key}`) does not exist: nothing publishes it (check the name, "
            f"`namespace` and `domain_id`; `physai ros2 doctor` lists what is there)"
        )
    if t.type not in have:
        return (
            f"{source}: topic {name} (`{t.key}`) has type {', '.join(have)} but the config expects "
            f"{t.type}; fix `{t.key}.type` or the topic name"
        )
    return (
        f"{source}: topic {name} (`{t.key}`) exists but delivered no message (silent publisher or a "
        f"QoS mismatch: try `{t.key}.qos.reliability: best_effort`)"
    )


def check_not_faulted(driver: Ros2Driver) -> None:
    """Raise SafetyError with the latched fault, if any (for callers outside the runtime)."""
    if driver.fault is not None:
        raise SafetyError(f"ROS 2 driver fault: {driver.fault}")
