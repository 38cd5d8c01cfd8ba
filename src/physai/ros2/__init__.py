"""ROS 2: physai packages on ROS 2 robots, and physai sim robots as ROS 2 robots.

- `config`: the driver CONFIG (YAML) that maps a policy contract's inputs to topics and its action to a
  command interface (ros2_control forward controllers, JointTrajectory, MoveIt Servo twist);
- `msgs`: numpy <-> ROS message conversions (only module besides `node` that imports message types);
- `node`: one rclpy context + node spun on a background executor thread (domain id per context);
- `driver`: `Ros2Driver`, the `RobotDriver` behind `--robot ros2:CONFIG.yaml`;
- `sim_node`: `SimRobotNode`, a physai task published as a ROS 2 robot (`physai ros2 sim`);
- `doctor`: checks every configured topic's existence, type and rate (`physai ros2 doctor`).

Needs the `field` extra (the `ros-rclpy` wheels with Fast DDS; no ROS installation).
"""
