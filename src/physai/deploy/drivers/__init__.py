"""Robot drivers: the `RobotDriver` protocol, the simulation driver and the network driver."""

from physai.deploy.drivers.base import DriverInfo, Reading, RobotDriver
from physai.deploy.drivers.network import DriverAgent, NetworkDriver
from physai.deploy.drivers.sim import SimDriver, make_driver

__all__ = ["DriverAgent", "DriverInfo", "NetworkDriver", "Reading", "RobotDriver", "SimDriver", "make_driver"]
