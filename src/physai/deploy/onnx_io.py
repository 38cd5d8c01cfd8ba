"""ONNX model I/O shared by packaging, INT8 acceptance and the profiler: the package's model file name,
random example inputs of the contract's shapes, and a CPU ONNX Runtime session."""

from __future__ import annotations

from typing import Any

import numpy as np

MODEL = "model.onnx"


def example_inputs(ins: list[dict], batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random model inputs of the shapes and dtypes in `ins` (token ids within the vocabulary)."""
    out: list[np.ndarray] = []
    for i in ins:
        shape = (batch, *i["shape"])
        if i["dtype"] == "uint8":
            out.append(rng.integers(0, 256, shape, dtype=np.uint8))
        elif i["dtype"] == "int64":
            out.append(rng.integers(0, int(i.get("vocab_size", 2)), shape, dtype=np.int64))
        else:
            out.append(rng.normal(size=shape).astype(np.float32))
    return out


def session(model: bytes, threads: int = 1) -> Any:
    """A CPU ONNX Runtime session over the serialized `model` (`threads` intra-op threads)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])


def run_actions(sess: Any, ins: list[dict], arrays: list[np.ndarray]) -> np.ndarray:
    """The `actions` output of `sess` for `arrays` fed to the inputs named in `ins`."""
    return np.asarray(sess.run(["actions"], {i["name"]: a for i, a in zip(ins, arrays, strict=True)})[0])
