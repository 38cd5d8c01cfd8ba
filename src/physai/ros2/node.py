"""One rclpy context (its own ROS domain) with one node, spun by an executor on a background thread.

Each `RosNode` owns its context, so a driver, a sim robot and a doctor in one process (or tests in
parallel) never share global rclpy state, and each can sit on its own domain id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from physai.core.errors import ConfigError
from physai.ros2.config import QosConfig


def _rclpy():
    try:
        import rclpy
    except ModuleNotFoundError:
        raise ConfigError(
            "ROS 2 support needs rclpy; install the field extra: pip install 'physai[field]' "
            "(ROS 2 wheels with Fast DDS, no ROS installation needed)"
        ) from None
    return rclpy


def qos_profile(q: QosConfig):
    """rclpy QoSProfile of `q`."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=q.depth,
        reliability=ReliabilityPolicy.RELIABLE
        if q.reliability == "reliable"
        else ReliabilityPolicy.BEST_EFFORT,
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL
            if q.durability == "transient_local"
            else DurabilityPolicy.VOLATILE
        ),
    )


class RosNode:
    """A started node: `node` (rclpy Node), `now()` (ROS time, s), `close()`."""

    def __init__(self, name: str, domain_id: int = 0, namespace: str = "") -> None:
        rclpy = _rclpy()
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context, domain_id=int(domain_id))
        try:
            self.node = rclpy.create_node(name, context=self.context, namespace=namespace or "/")
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
        except BaseException:
            rclpy.shutdown(context=self.context)
            raise
        self._thread = threading.Thread(target=self._spin, name=f"ros2-{name}", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def now(self) -> float:
        """The node's clock (ROS time; system time unless `use_sim_time`), seconds."""
        return self.node.get_clock().now().nanoseconds * 1e-9

    def topic_types(self) -> dict[str, list[str]]:
        """Topics currently in the graph -> their types."""
        return dict(self.node.get_topic_names_and_types())

    def wait_for(self, pred: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
        """Poll `pred` until it holds or `timeout` seconds pass; returns whether it held."""
        end = time.monotonic() + timeout
        while True:
            if pred():
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(poll)

    def close(self) -> None:
        """Stop spinning, destroy the node, shut the context down (idempotent)."""
        if self.context is None:
            return
        rclpy = _rclpy()
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            if self.context.ok():
                rclpy.shutdown(context=self.context)
            self._thread.join(timeout=2.0)
            self.context = None  # type: ignore[assignment]
