"""`physai ros2 doctor CONFIG`: is the robot's ROS 2 graph what CONFIG says, before anything moves?

For every input topic: it exists, with the configured type, messages arrive at (at least 80% of) the
expected rate and their header stamps advance. For every command topic: someone subscribes to it, with
the configured type. One `TopicCheck` per topic; `ok` is False with a `problem` saying what to fix.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass

from physai.ros2 import msgs
from physai.ros2.config import Ros2Config, TopicConfig
from physai.ros2.node import RosNode, qos_profile

RATE_TOLERANCE = 0.8
"""A topic measured below this fraction of its expected rate is a problem."""


@dataclass
class TopicCheck:
    """The verdict on one configured topic."""

    topic: str
    """Resolved topic name."""
    key: str
    """The CONFIG key it comes from."""
    direction: str
    """`in` (the driver subscribes) or `out` (the driver publishes commands)."""
    type: str
    """Configured message type."""
    found: list[str]
    """Types the graph has on this topic."""
    expected_hz: float | None
    """Expected rate (inputs)."""
    measured_hz: float | None = None
    """Measured receive rate over the window (inputs)."""
    messages: int = 0
    """Messages received in the window (inputs) / subscribers (commands)."""
    ok: bool = True
    problem: str = ""
    """What is wrong and how to fix it (empty when ok)."""


class _Counter:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.stamps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, msg: object) -> None:
        with self.lock:
            self.times.append(time.monotonic())
            st = msgs.stamp_s(msg)
            if st is not None:
                self.stamps.append(st)


def diagnose(cfg: Ros2Config, window: float = 2.0) -> list[TopicCheck]:
    """Check every topic of `cfg` on its domain, measuring input rates over `window` seconds."""
    ros = RosNode(f"physai_doctor_{os.getpid()}", cfg.domain_id, cfg.namespace)
    try:
        names = {cfg.resolve(t.topic): t for t in cfg.inputs() + cfg.outputs()}
        ros.wait_for(lambda: all(n in ros.topic_types() for n in names), cfg.connect_timeout, poll=0.05)
        types = ros.topic_types()
        counters: dict[str, _Counter] = {}
        checks: list[TopicCheck] = []
        for t in cfg.inputs():
            name = cfg.resolve(t.topic)
            chk = TopicCheck(name, t.key, "in", t.type, types.get(name, []), cfg.rate(t))
            checks.append(chk)
            if t.type in chk.found:
                counters[name] = c = _Counter()
                ros.node.create_subscription(msgs.msg_class(t.type), name, c, qos_profile(t.qos or cfg.qos))
        if counters:
            time.sleep(window)  # the measurement window
        for chk in checks:
            _judge_input(chk, counters.get(chk.topic), window)
        for t in cfg.outputs():
            checks.append(_judge_output(ros, cfg, t, types))
        return checks
    finally:
        ros.close()


def _judge_input(chk: TopicCheck, c: _Counter | None, window: float) -> None:
    if not chk.found:
        chk.ok, chk.problem = False, "missing: nothing publishes it (check the name, namespace and domain_id)"
        return
    if c is None:
        chk.ok, chk.problem = (
            False,
            (f"wrong type: the robot publishes {', '.join(chk.found)}; fix `{chk.key}.type` or the topic"),
        )
        return
    with c.lock:
        times, stamps = list(c.times), list(c.stamps)
    chk.messages = len(times)
    if len(times) < 2:
        chk.ok, chk.problem = (
            False,
            (
                f"silent: {len(times)} message(s) in {window:g} s (publisher stopped, or "
                f"a QoS mismatch: try `{chk.key}.qos.reliability: best_effort`)"
            ),
        )
        return
    chk.measured_hz = (len(times) - 1) / max(times[-1] - times[0], 1e-9)
    exp = chk.expected_hz or 0.0
    if chk.measured_hz < RATE_TOLERANCE * exp:
        chk.ok, chk.problem = (
            False,
            (
                f"too slow: {chk.measured_hz:.1f} Hz, expected {exp:g} Hz (set "
                f"`{chk.key}.hz` if this is its real rate; the driver calls a topic "
                "stale after `stale_after` of its periods)"
            ),
        )
    elif stamps and (max(stamps) <= 0 or all(s <= stamps[0] for s in stamps[1:])):
        chk.ok, chk.problem = (
            False,
            (
                "header stamps do not advance: the driver cannot tell fresh data from "
                "stale; stamp each message with its measurement time"
            ),
        )
    elif any(b < a for a, b in zip(stamps, stamps[1:], strict=False)):
        chk.ok, chk.problem = False, "header stamps went backwards during the check (a clock jump)"


def _judge_output(ros: RosNode, cfg: Ros2Config, t: TopicConfig, types: dict[str, list[str]]) -> TopicCheck:
    name = cfg.resolve(t.topic)
    subs = ros.node.get_subscriptions_info_by_topic(name)
    found = sorted({s.topic_type for s in subs} | set(types.get(name, [])))
    chk = TopicCheck(name, t.key, "out", t.type, found, None, messages=len(subs))
    if not subs:
        chk.ok, chk.problem = (
            False,
            (
                "nobody subscribes: is the robot's controller loaded and active? "
                f"(`{t.key}` interface {cfg.command.interface})"
            ),
        )
    elif t.type not in found:
        chk.ok, chk.problem = (
            False,
            (f"wrong type: the robot listens for {', '.join(found)}; fix `command.interface`"),
        )
    return chk


def as_dict(checks: list[TopicCheck]) -> dict:
    """The `--json` document: every check and an overall `ok`."""
    return {"ok": all(c.ok for c in checks), "topics": [asdict(c) for c in checks]}
