"""INT8 acceptance: quantize the fp32 export with ONNX Runtime dynamic quantization and accept it only
if action error and (with a task) closed-loop success in simulation stay within the stated tolerance.

Weights are quantized to *unsigned* int8 (U8U8 `MatMulInteger`). The signed-weight default (U8S8) runs on
x86 CPUs without VNNI (AVX2, pre-VNNI AVX-512) through `vpmaddubsw`, whose int16 pair sums saturate:
there ONNX Runtime's output differs from the quantized graph's own integer math (a tiny tanh MLP: 7% of
the action range instead of 0.2%), so the same package scored differently on the exporting machine and
on the robot. U8U8 has no such kernel path and matches the exact integer result on every CPU."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from physai.core.contract import PolicyContract
from physai.core.errors import PackageError
from physai.core.execution import SyncExecution

WEIGHT_TYPE = "QUInt8"
"""`onnxruntime.quantization.QuantType` of the weights; see the module docstring for why not QInt8."""


def quantize_bytes(model: bytes) -> bytes:
    """Dynamic quantization of an ONNX model: MatMul/Gemm weights to uint8 ahead of time, activations to
    uint8 on the fly (`DynamicQuantizeLinear` + `MatMulInteger`)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "fp32.onnx", Path(d) / "int8.onnx"
        import onnx

        proto = onnx.load_from_string(model)
        del proto.graph.value_info[:]  # the dynamo exporter's shape annotations trip ORT's re-inference
        src.write_bytes(proto.SerializeToString())
        quantize_dynamic(str(src), str(dst), weight_type=QuantType[WEIGHT_TYPE])
        return dst.read_bytes()


def closed_loop_success(session, contract: PolicyContract, task: str, episodes: int, seed: int = 0) -> float:
    """Success rate of the model in `task` over `episodes` seeded episodes, its chunks executed as the
    contract says (`SyncExecution`, the evaluator's and runtime's executor)."""
    from physai.envs import make, run_episode

    def infer(obs: dict) -> np.ndarray:
        feed = {i["name"]: a[None] for i, a in zip(ins, contract.model_arrays(obs), strict=True)}
        return session.run(["actions"], feed)[0][0]

    ins = contract.model_inputs()
    env = make(task, render_mode=None, **contract.env_kwargs())
    pol = SyncExecution(infer, contract.execution, contract.chunk_size)
    try:
        wins = sum(run_episode(env, pol, seed=seed + i).success for i in range(episodes))
    finally:
        env.close()
    return wins / episodes


def quantize_and_check(
    files: dict[str, bytes], contract: PolicyContract, cfg
) -> tuple[dict[str, bytes], dict]:
    """INT8 versions of the models in `files` and the acceptance report; raises PackageError when the
    INT8 model is outside tolerance and `cfg.force` is false."""
    from physai.deploy.onnx_io import MODEL, example_inputs
    from physai.deploy.onnx_io import session as _session

    q = {name: quantize_bytes(data) for name, data in files.items() if name.endswith(".onnx")}
    fp, i8 = _session(files[MODEL]), _session(q[MODEL])
    rng = np.random.default_rng(cfg.seed + 7)
    inputs = contract.model_inputs()
    diffs, outs = [], []
    for _ in range(max(8, cfg.parity_samples)):
        arrays = example_inputs(inputs, 1, rng)
        feed = {i["name"]: a for i, a in zip(inputs, arrays, strict=True)}
        a = fp.run(["actions"], feed)[0]
        b = i8.run(["actions"], feed)[0]
        diffs.append(np.abs(a - b))
        outs.append(a)
    outs_a = np.concatenate(outs).reshape(-1, outs[0].shape[-1])
    if contract.action_low is not None and contract.action_high is not None:
        rng_a = np.asarray(contract.action_high, float) - np.asarray(contract.action_low, float)
    else:
        rng_a = outs_a.max(0) - outs_a.min(0)
    rng_a = np.where(rng_a > 1e-6, rng_a, 1.0)
    d = np.concatenate(diffs).reshape(-1, outs_a.shape[-1])
    rel = float(np.mean(d / rng_a))
    report: dict[str, Any] = {
        "method": f"onnxruntime.quantization.quantize_dynamic ({WEIGHT_TYPE} weights)",
        "action_error_rel": rel,
        "action_error_max_abs": float(d.max()),
        "action_tol": cfg.int8_action_tol,
        "success_tol": cfg.int8_success_tol,
    }
    ok = rel <= cfg.int8_action_tol
    if cfg.int8_task:
        s_fp = closed_loop_success(fp, contract, cfg.int8_task, cfg.int8_episodes, cfg.seed)
        s_i8 = closed_loop_success(i8, contract, cfg.int8_task, cfg.int8_episodes, cfg.seed)
        report.update(task=cfg.int8_task, episodes=cfg.int8_episodes, success_fp32=s_fp, success_int8=s_i8)
        ok = ok and (s_fp - s_i8) <= cfg.int8_success_tol
    report["accepted"] = bool(ok)
    report["forced"] = bool(not ok and cfg.force)
    if not ok and not cfg.force:
        extra = (
            f", closed-loop success fp32 {report['success_fp32']:.0%} vs int8 {report['success_int8']:.0%} "
            f"(tolerance {cfg.int8_success_tol:.0%})"
            if cfg.int8_task
            else ""
        )
        raise PackageError(
            f"INT8 model refused: mean action error {rel:.4f} of the action range (tolerance "
            f"{cfg.int8_action_tol}){extra}; export fp32, or pass --force to keep INT8 anyway"
        )
    return q, report
