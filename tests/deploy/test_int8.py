"""INT8 quantization: ONNX Runtime must compute the quantized graph's own integer math on this CPU."""

from __future__ import annotations

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from conftest import TinyPolicy, tiny_spec
from physai.deploy.int8 import quantize_bytes
from physai.deploy.package import _onnx_bytes, _session, example_inputs


def test_quantized_model_matches_exact_integer_math():
    ins = tiny_spec().model_inputs()
    fp32 = _onnx_bytes(TinyPolicy().eval(), ins, 1, False, 1)
    q = quantize_bytes(fp32)
    proto = onnx.load_from_string(q)
    inits = {i.name: i for i in proto.graph.initializer}
    mm = [n for n in proto.graph.node if n.op_type == "MatMulInteger"]
    assert len(mm) == 2  # both Linear layers quantized
    # unsigned weights: signed ones (U8S8) saturate in ORT's AVX2 kernel on CPUs without VNNI
    assert all(inits[n.input[1]].data_type == onnx.TensorProto.UINT8 for n in mm)
    ort, exact, fp = _session(q), ReferenceEvaluator(proto), _session(fp32)
    rng = np.random.default_rng(3)
    got, ref, full = [], [], []
    for _ in range(16):
        feed = {"state": example_inputs(ins, 1, rng)[0]}
        got.append(ort.run(["actions"], feed)[0])
        ref.append(exact.run(["actions"], feed)[0])
        full.append(fp.run(["actions"], feed)[0])
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(ref), atol=1e-5)
    a = np.concatenate(full).reshape(-1, 3)
    rel = np.mean(np.abs(np.concatenate(got).reshape(-1, 3) - a) / (a.max(0) - a.min(0)))
    assert rel < 0.01  # 8-bit quantization of this MLP costs ~0.2% of the action range, not several %
