"""A minimal vendor device plugin, installed by the tests through a `physai.devices` entry point.

It stands for an NPU SDK: `compile` stores the ONNX bytes as the "NPU binary", `load` runs it (on ONNX
Runtime CPU here), and the device brings its own energy counter.
"""

from __future__ import annotations

import time

import numpy as np

from physai.hardware.energy import EnergyMeter
from physai.hardware.plugins import Artifact, ArtifactCache, CompileSpec, DevicePlugin, Probe, model_bytes


class BoardMeter(EnergyMeter):
    """A fake on-board counter: 2 W while the device is open."""

    method = "testnpu-board"

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def read_j(self) -> float:
        return 2.0 * (time.monotonic() - self.t0)


class NpuSession:
    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        self.sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.sess.get_inputs()]

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        return self.sess.run(None, dict(zip(self.names, inputs, strict=True)))[0]

    def warmup(self, inputs: list[np.ndarray], n: int = 10) -> None:
        for _ in range(n):
            self.run(inputs)


class NpuPlugin(DevicePlugin):
    name = "testnpu:sim"
    kind = "npu"

    def probe(self) -> Probe:
        return Probe(True, "testnpu-sdk 0.1", None, {"board": "simulated"})

    def capabilities(self) -> dict:
        return {"precisions": ["fp32"], "batching": False}

    def compile(self, package, spec: CompileSpec, cache: ArtifactCache) -> Artifact:
        data = model_bytes(package, spec.batch)
        return cache.compile_cached(self.name, package, spec, lambda: {"npu.bin": data})

    def load(self, artifact: Artifact) -> NpuSession:
        return NpuSession(artifact.read("npu.bin"))

    def energy_meter(self):
        return BoardMeter(), []


class Broken(NpuPlugin):
    name = "broken:dev"

    def __init__(self) -> None:
        raise RuntimeError("vendor SDK not initialised")


def plugins() -> list[DevicePlugin]:
    return [NpuPlugin()]
