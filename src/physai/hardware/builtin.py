"""Built-in devices: ONNX Runtime execution providers (`ort:*`) and PyTorch eager (`torch:*`).

Each is available only where its runtime (and hardware) is; `probe()` says what to install otherwise.
INT8: a package exported with --int8 runs as INT8; `ort:*@int8` on an fp32 package quantizes at compile
time (ONNX Runtime dynamic quantization, cached) and the profiler reports its error against fp32.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from physai.core.errors import PackageError
from physai.hardware.plugins import Artifact, ArtifactCache, CompileSpec, DevicePlugin, Probe, model_bytes

ORT_TARGETS = {  # device id -> (execution provider, what to install)
    "ort:cpu": ("CPUExecutionProvider", "pip install onnxruntime"),
    "ort:cuda": (
        "CUDAExecutionProvider",
        "pip install onnxruntime-gpu (needs an NVIDIA GPU, CUDA 12 and cuDNN 9)",
    ),
    "ort:tensorrt": (
        "TensorrtExecutionProvider",
        "pip install onnxruntime-gpu tensorrt (NVIDIA GPU + TensorRT 10)",
    ),
    "ort:openvino": ("OpenVINOExecutionProvider", "pip install onnxruntime-openvino (Intel CPU/GPU/NPU)"),
}


def _package_precision(package: Any) -> str:
    return str(package.policy.get("precision", "fp32"))


def _check_precision(device: str, package: Any, spec: CompileSpec, supported: list[str]) -> None:
    pp = _package_precision(package)
    if spec.precision not in supported:
        raise PackageError(f"{device} cannot compile precision {spec.precision!r}; it supports {supported}")
    if pp == "int8" and spec.precision != "int8":
        raise PackageError(
            f"{package.path} is an INT8 package; {device} cannot recover {spec.precision} weights "
            f"from it (profile it as int8, or export an fp32 package)"
        )


class OrtSession:
    """ONNX Runtime session with a fixed output name and a reused feed dict."""

    def __init__(self, sess, names: list[str]) -> None:
        self.sess, self.names, self._out = sess, names, [sess.get_outputs()[0].name]
        self._run = sess.run

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        return self._run(self._out, dict(zip(self.names, inputs, strict=True)))[0]

    def warmup(self, inputs: list[np.ndarray], n: int = 10) -> None:
        for _ in range(n):
            self.run(inputs)


class OrtPlugin(DevicePlugin):
    """An ONNX Runtime execution provider."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.provider, self.install = ORT_TARGETS[name]
        self.kind = "cpu" if name in ("ort:cpu", "ort:openvino") else "cuda"

    def probe(self) -> Probe:
        try:
            import onnxruntime as ort
        except ImportError:
            return Probe(False, reason=f"onnxruntime is not installed: {self.install}")
        have = ort.get_available_providers()
        ver = f"onnxruntime {ort.__version__}"
        if self.provider not in have:
            return Probe(
                False,
                ver,
                f"{self.provider} is not in this onnxruntime build (providers: "
                f"{', '.join(have)}); {self.install}",
                {"providers": have},
            )
        det: dict = {"provider": self.provider, "device": ort.get_device()}
        if self.kind == "cuda":
            from physai.hardware.sysinfo import nvidia_gpus

            gpus = nvidia_gpus()
            if not gpus:
                return Probe(
                    False,
                    ver,
                    f"{self.provider} is built in, but no NVIDIA GPU/driver is visible "
                    "(nvidia-smi found nothing)",
                    det,
                )
            det["gpus"] = gpus
        return Probe(True, ver, None, det)

    def capabilities(self) -> dict:
        precs = ["fp32", "int8"] if self.name in ("ort:cpu", "ort:openvino") else ["fp32", "fp16", "int8"]
        return {"precisions": precs, "batching": True, "threads": self.kind == "cpu"}

    def compile(self, package: Any, spec: CompileSpec, cache: ArtifactCache) -> Artifact:
        _check_precision(self.name, package, spec, self.capabilities()["precisions"])
        src = model_bytes(package, spec.batch)

        def build() -> dict[str, bytes]:
            data = src
            if spec.precision == "int8" and _package_precision(package) != "int8":
                from physai.deploy.int8 import quantize_bytes

                data = quantize_bytes(src)
            elif spec.precision == "fp16":
                import onnx
                from onnxruntime.transformers.float16 import convert_float_to_float16

                data = convert_float_to_float16(
                    onnx.load_from_string(src), keep_io_types=True
                ).SerializeToString()
            self._session(data, spec.threads)  # fail at compile, not at load, when the provider refuses it
            return {"model.onnx": data}

        t0 = time.perf_counter()
        art = cache.compile_cached(self.name, package, spec, build)
        art.meta["compile_s"] = round(time.perf_counter() - t0, 3)
        return art

    def _session(self, data: bytes, threads: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "1")
        providers: list = [self.provider]
        if self.provider != "CPUExecutionProvider":
            providers.append("CPUExecutionProvider")
        try:
            return ort.InferenceSession(data, sess_options=so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types per provider
            raise PackageError(
                f"{self.name} could not build a session for this model: {type(exc).__name__}: {exc}"
            ) from exc

    def load(self, artifact: Artifact) -> OrtSession:
        data = artifact.read("model.onnx")
        sess = self._session(data, artifact.spec.threads)
        return OrtSession(sess, [i.name for i in sess.get_inputs()])


class TorchSession:
    """A `TorchGraph` behind the Session protocol (numpy in, numpy out; no autograd)."""

    def __init__(self, graph, device: str) -> None:
        import torch

        self.graph, self.device, self.torch = graph, device, torch
        self._sync = torch.cuda.synchronize if device.startswith("cuda") else None

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        t = self.torch
        with t.inference_mode():
            y = self.graph(*(t.from_numpy(a).to(self.device) for a in inputs))
        return y.cpu().numpy()

    def warmup(self, inputs: list[np.ndarray], n: int = 10) -> None:
        for _ in range(n):
            self.run(inputs)


class TorchPlugin(DevicePlugin):
    """PyTorch eager execution of the package graph (see `physai.hardware.torch_onnx`)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.name = f"torch:{target}"
        self.kind = target

    def probe(self) -> Probe:
        try:
            import torch
        except ImportError:
            return Probe(False, reason="torch is not installed: pip install torch")
        ver = f"torch {torch.__version__}"
        if self.target == "cuda":
            if not torch.cuda.is_available():
                why = (
                    "this torch build has no CUDA (CPU wheel); install a CUDA wheel of torch"
                    if torch.version.cuda is None
                    else "torch has CUDA but no GPU is visible (driver/device)"
                )
                return Probe(False, ver, why)
            return Probe(True, ver, None, {"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda})
        return Probe(True, ver, None, {"threads": torch.get_num_threads()})

    def capabilities(self) -> dict:
        return {"precisions": ["fp32"], "batching": True, "threads": self.target == "cpu"}

    def compile(self, package: Any, spec: CompileSpec, cache: ArtifactCache) -> Artifact:
        from physai.hardware.torch_onnx import TorchGraph

        _check_precision(self.name, package, spec, self.capabilities()["precisions"])
        src = model_bytes(package, spec.batch)
        TorchGraph(src, "cpu")  # refuses unsupported ops now, with their names
        t0 = time.perf_counter()
        art = cache.compile_cached(self.name, package, spec, lambda: {"model.onnx": src})
        art.meta["compile_s"] = round(time.perf_counter() - t0, 3)
        return art

    def load(self, artifact: Artifact) -> TorchSession:
        import torch

        from physai.hardware.torch_onnx import TorchGraph

        if self.target == "cpu":
            torch.set_num_threads(max(1, artifact.spec.threads))
        return TorchSession(TorchGraph(artifact.read("model.onnx"), self.target), self.target)

    def memory_bytes(self) -> int | None:
        if self.target != "cuda":
            return None
        import torch

        return int(torch.cuda.max_memory_allocated())


def builtin_plugins() -> list[DevicePlugin]:
    return [TorchPlugin("cpu"), TorchPlugin("cuda"), *(OrtPlugin(n) for n in ORT_TARGETS)]
