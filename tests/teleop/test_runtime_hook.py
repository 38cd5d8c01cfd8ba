"""The runtime's intervention hook: a source takes over and hands back, its commands go through the
safety supervisor like the policy's, a device lost mid-takeover holds the robot, the recorder marks
each step."""

from __future__ import annotations

import numpy as np

from physai.data.dataset import Dataset
from physai.deploy.drivers import SimDriver
from physai.deploy.reference import contract
from physai.deploy.runtime import Runtime, RuntimeConfig
from physai.teleop import ActionArbiter, MapperConfig, ScriptedSource, SourceInput
from physai.teleop.record import InterventionRecorder


class StillPackage:
    """Stands in for a verified package (no ONNX export in a fast test): every chunk keeps the arm still."""

    path = "still"

    def __init__(self) -> None:
        self.contract = contract()

    def infer(self, obs: dict) -> np.ndarray:
        c = self.contract
        return np.zeros((c.chunk_size, len(c.action_names)), np.float32)


class Log:
    def __init__(self) -> None:
        self.records: list = []

    def start(self, info, pkg) -> None:
        pass

    def cycle(self, record) -> None:
        self.records.append(record)

    def end(self, report: dict) -> None:
        pass


def test_takeover_is_supervised_lost_device_holds_and_steps_are_marked(tmp_path) -> None:
    pkg = StillPackage()
    drv = SimDriver("tabletop/pick-place", seed=3, realtime=False)
    up = SourceInput(engaged=True, twist=np.array([0, 0, 1, 0, 0, 0], np.float32))
    src = ScriptedSource([SourceInput()] * 5 + [up] * 15, name="pad")  # then the device is gone
    # full deflection at 1 m/s: four times the collaborative cap the supervisor enforces
    arb = ActionArbiter([src], MapperConfig(linear_speed=1.0))
    log, rec = Log(), InterventionRecorder(tmp_path / "rec", drv, "tabletop/pick-place")
    rep = Runtime(
        pkg, drv, RuntimeConfig(realtime=False, max_cycles=40), observers=[log, rec], arbiter=arb
    ).run()
    sources = [r.source for r in log.records]
    assert sources == ["policy"] * 5 + ["human:pad"] * 15 + ["hold:pad"] * 20
    assert rep["control"]["steps"] == {"policy": 5, "human": 15, "hold": 20}
    human = log.records[10]
    assert human.action[2] == np.float32(0.05)  # what the operator asked (clipped to the action bound)
    assert 0 < human.command[2] < 0.02  # what the supervisor let through: <= 0.25 m/s x 0.05 s (+ lead)
    for r in log.records[20:]:
        assert not r.action[:6].any()  # the robot holds once the device is lost
    ds = Dataset(tmp_path / "rec")
    assert np.asarray(ds.arrays()["control_source"]).reshape(-1).tolist() == [0] * 5 + [1] * 15 + [2] * 20
    z = ds.arrays()["observation.state"][:, ds.features["observation.state"]["names"].index("ee.pos.z")]
    assert z[20] - z[5] > 0.02 and abs(z[-1] - z[25]) < 0.003  # lifted, then held (measured)
