"""`ros2:CONFIG.yaml`: a ROS 2 robot (topics and command interface described by CONFIG); see `physai.ros2`.

Found through the `physai.robots` entry point when a `ros2:` robot is opened, so rclpy (the `field` extra)
is needed only then.
"""

from __future__ import annotations

from physai.core.contract import PolicyContract
from physai.deploy.drivers.schemes import ROBOT_SCHEMES, DriverOptions


@ROBOT_SCHEMES.register("ros2")
def open_ros2(target: str, contract: PolicyContract | None, options: DriverOptions):
    """The `Ros2Driver` of CONFIG file `target` for `contract` (dry run: commands logged, not sent)."""
    from physai.ros2.config import load_config
    from physai.ros2.driver import Ros2Driver

    return Ros2Driver(load_config(target), contract, dry_run=options.dry_run, source=target)
