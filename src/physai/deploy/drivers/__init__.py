"""Robot drivers: the `RobotDriver` protocol, the simulation driver and the network driver."""

from physai.deploy.drivers.base import DriverInfo, Reading, RobotDriver
from physai.deploy.drivers.network import DriverAgent, NetworkDriver
from physai.deploy.drivers.schemes import ROBOT_SCHEMES, DriverOptions, open_driver
from physai.deploy.drivers.sim import SimDriver, make_driver

__all__ = [
    "ROBOT_SCHEMES", "DriverAgent", "DriverInfo", "DriverOptions", "NetworkDriver", "Reading", "RobotDriver",
    "SimDriver", "make_driver", "open_driver",
]
