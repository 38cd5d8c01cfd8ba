"""Run an ONNX graph eagerly with PyTorch ops — the `torch:*` devices' engine.

Packages carry ONNX, not torch modules, so the torch devices interpret the verified graph node by node
with torch eager kernels (one Python dispatch per node, like `nn.Module` eager mode). It covers the ops
the physai exporter emits for the shipped policies (MLP, ACT, flow); any other op is refused at compile
time with the op's name, so the run continues on the other devices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from physai.core.errors import PackageError

_ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
}


def _attrs(node) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(t) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


class TorchGraph:
    """A compiled ONNX graph: a list of closures over an environment of named torch tensors."""

    def __init__(self, model_bytes: bytes, device: str = "cpu") -> None:
        import onnx
        import torch
        from onnx import numpy_helper

        self.torch, self.device = torch, device
        m = onnx.load_from_string(model_bytes)
        g = m.graph
        self.consts: dict[str, Any] = {}
        for init in g.initializer:
            self.consts[init.name] = torch.from_numpy(numpy_helper.to_array(init).copy()).to(device)
        self.inputs = [i.name for i in g.input if i.name not in self.consts]
        self.outputs = [o.name for o in g.output]
        self.steps: list[Callable[[dict], None]] = []
        unknown = sorted(
            {
                n.op_type
                for n in g.node
                if not hasattr(self, "_op_" + n.op_type) or n.domain not in ("", "ai.onnx")
            }
        )
        if unknown:
            raise PackageError(
                f"the torch devices cannot run ONNX op(s) {', '.join(unknown)}; use an ort:* device "
                f"for this package"
            )
        for node in g.node:
            if node.op_type == "Constant":
                a = _attrs(node)
                val = a.get("value")
                arr = (
                    numpy_helper.to_array(val)
                    if val is not None
                    else np.asarray(
                        a.get("value_float", a.get("value_int", a.get("value_floats", a.get("value_ints"))))
                    )
                )
                self.consts[node.output[0]] = torch.from_numpy(np.array(arr)).to(device)
                continue
            self.steps.append(getattr(self, "_op_" + node.op_type)(node, _attrs(node)))

    def const(self, name: str):
        return self.consts.get(name)

    def __call__(self, *arrays):
        env = dict(self.consts)
        for n, a in zip(self.inputs, arrays, strict=True):
            env[n] = a
        for s in self.steps:
            s(env)
        return env[self.outputs[0]]

    # ------------------------------------------------------------------------ ops
    def _unary(self, fn):
        def make(node, a):
            i, o = node.input[0], node.output[0]

            def step(env):
                env[o] = fn(env[i])

            return step

        return make

    def _binary(self, fn):
        def make(node, a):
            x, y, o = node.input[0], node.input[1], node.output[0]

            def step(env):
                env[o] = fn(env[x], env[y])

            return step

        return make

    def __getattr__(self, name: str):
        t = self.__dict__.get("torch")
        if t is None or not name.startswith("_op_"):
            raise AttributeError(name)
        f = t.nn.functional
        unary = {
            "Tanh": t.tanh,
            "Relu": t.relu,
            "Sigmoid": t.sigmoid,
            "Neg": t.neg,
            "Exp": t.exp,
            "Sqrt": t.sqrt,
            "Erf": t.erf,
            "Sin": t.sin,
            "Cos": t.cos,
            "Identity": lambda x: x,
            "Abs": t.abs,
            "Not": t.logical_not,
            "Reciprocal": t.reciprocal,
            "Log": t.log,
            "Floor": t.floor,
            "Ceil": t.ceil,
            "Atan": t.atan,
            "Sign": t.sign,
            "IsNaN": t.isnan,
            "Softplus": f.softplus,
        }
        binary = {
            "Add": t.add,
            "Sub": t.sub,
            "Mul": t.mul,
            "Div": t.div,
            "MatMul": t.matmul,
            "Pow": t.pow,
            "Equal": t.eq,
            "Less": t.lt,
            "Greater": t.gt,
            "And": t.logical_and,
            "Or": t.logical_or,
            "Max": t.maximum,
            "Min": t.minimum,
        }
        op = name[4:]
        if op in unary:
            return self._unary(unary[op])
        if op in binary:
            return self._binary(binary[op])
        if op == "Gelu":
            return lambda node, a: self._unary(
                lambda x: f.gelu(
                    x,
                    approximate=a.get("approximate", b"none").decode()
                    if isinstance(a.get("approximate"), bytes)
                    else a.get("approximate", "none"),
                )
            )(node, a)
        raise AttributeError(name)

    def _op_Gemm(self, node, a):
        t = self.torch
        x, w, o = node.input[0], node.input[1], node.output[0]
        b = node.input[2] if len(node.input) > 2 and node.input[2] else None
        ta, tb, alpha, beta = a.get("transA", 0), a.get("transB", 0), a.get("alpha", 1.0), a.get("beta", 1.0)
        W = self.consts.get(w)
        if W is not None and tb and not ta and alpha == 1.0 and beta == 1.0:
            bias = self.consts.get(b) if b else None
            lin = t.nn.functional.linear

            def step(env):
                env[o] = lin(env[x], W, bias if bias is not None else (env[b] if b else None))

            return step

        def step(env):
            A, B = env[x], env[w]
            A = A.t() if ta else A
            B = B.t() if tb else B
            y = alpha * (A @ B)
            env[o] = y + beta * env[b] if b else y

        return step

    def _op_LayerNormalization(self, node, a):
        ln = self.torch.nn.functional.layer_norm
        x, w, o = node.input[0], node.input[1], node.output[0]
        b = node.input[2] if len(node.input) > 2 and node.input[2] else None
        axis, eps = a.get("axis", -1), a.get("epsilon", 1e-5)
        if axis != -1:
            raise PackageError(f"LayerNormalization over axis {axis} is not supported by the torch devices")

        def step(env):
            W = env[w]
            env[o] = ln(env[x], W.shape, W, env[b] if b else None, eps)

        return step

    def _op_Softmax(self, node, a):
        i, o, axis = node.input[0], node.output[0], a.get("axis", -1)

        def step(env):
            env[o] = self.torch.softmax(env[i], axis)

        return step

    def _shape_arg(self, name: str) -> list[int] | None:
        c = self.consts.get(name) if name else None
        return _ints(c) if c is not None else None

    def _op_Reshape(self, node, a):
        i, s, o = node.input[0], node.input[1], node.output[0]
        shape = self._shape_arg(s)

        def step(env):
            x = env[i]
            sh = shape if shape is not None else _ints(env[s])
            sh = [x.shape[k] if (v == 0 and not a.get("allowzero", 0)) else v for k, v in enumerate(sh)]
            env[o] = x.reshape(sh)

        return step

    def _op_Transpose(self, node, a):
        i, o, perm = node.input[0], node.output[0], a.get("perm")

        def step(env):
            x = env[i]
            env[o] = x.permute(*(perm or range(x.dim() - 1, -1, -1)))

        return step

    def _op_Unsqueeze(self, node, a):
        i, o = node.input[0], node.output[0]
        axes = self._shape_arg(node.input[1]) if len(node.input) > 1 else list(a["axes"])

        def step(env):
            x = env[i]
            n = x.dim() + len(axes)
            for ax in sorted(v % n for v in axes):
                x = x.unsqueeze(ax)
            env[o] = x

        return step

    def _op_Squeeze(self, node, a):
        i, o = node.input[0], node.output[0]
        axes = self._shape_arg(node.input[1]) if len(node.input) > 1 else a.get("axes")

        def step(env):
            x = env[i]
            env[o] = x.squeeze(tuple(axes)) if axes else x.squeeze()

        return step

    def _op_Gather(self, node, a):
        d, idx, o, axis = node.input[0], node.input[1], node.output[0], a.get("axis", 0)
        t = self.torch

        def step(env):
            x, ind = env[d], env[idx]
            ind = t.where(ind < 0, ind + x.shape[axis], ind)
            if ind.dim() == 0:
                env[o] = x.select(axis, int(ind))
            else:
                env[o] = t.index_select(x, axis, ind.reshape(-1)).reshape(
                    *x.shape[: axis % x.dim()], *ind.shape, *x.shape[axis % x.dim() + 1 :]
                )

        return step

    def _op_Concat(self, node, a):
        ins, o, axis = list(node.input), node.output[0], a["axis"]

        def step(env):
            env[o] = self.torch.cat([env[n] for n in ins], axis)

        return step

    def _op_Split(self, node, a):
        i, outs, axis = node.input[0], list(node.output), a.get("axis", 0)
        sizes = self._shape_arg(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("split")

        def step(env):
            x = env[i]
            sz = sizes
            if not sz:
                n, d = len(outs), x.shape[axis]
                c = -(-d // n)
                sz = [c] * (n - 1) + [d - c * (n - 1)]
            for name, part in zip(outs, self.torch.split(x, list(sz), axis), strict=True):
                env[name] = part

        return step

    def _op_Slice(self, node, a):
        i, o = node.input[0], node.output[0]
        args = [
            self._shape_arg(n) if k < len(node.input) else None
            for k, n in enumerate(list(node.input[1:5]) + [""] * (4 - len(node.input[1:5])), start=1)
        ]
        starts, ends, axes, steps = args

        def step(env):
            x = env[i]
            sl = [slice(None)] * x.dim()
            for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
                ax = axes[k] if axes else k
                st = steps[k] if steps else 1
                dim = x.shape[ax]
                sl[ax] = slice(max(-dim, min(s, dim)), max(-dim, min(e, dim)), st)
            env[o] = x[tuple(sl)]

        return step

    def _op_Cast(self, node, a):
        i, o = node.input[0], node.output[0]
        dt = getattr(self.torch, _ONNX_DTYPES.get(a["to"], "float32"))

        def step(env):
            env[o] = env[i].to(dt)

        return step

    def _op_Where(self, node, a):
        c, x, y, o = (*node.input, node.output[0])

        def step(env):
            env[o] = self.torch.where(env[c], env[x], env[y])

        return step

    def _reduce(self, node, a, fn):
        i, o, keep = node.input[0], node.output[0], bool(a.get("keepdims", 1))
        axes = self._shape_arg(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("axes")

        def step(env):
            x = env[i]
            env[o] = fn(x, tuple(axes) if axes else tuple(range(x.dim())), keep)

        return step

    def _op_ReduceMean(self, node, a):
        return self._reduce(node, a, lambda x, d, k: x.mean(dim=d, keepdim=k))

    def _op_ReduceSum(self, node, a):
        return self._reduce(node, a, lambda x, d, k: x.sum(dim=d, keepdim=k))

    def _op_ReduceL2(self, node, a):
        return self._reduce(node, a, lambda x, d, k: self.torch.linalg.vector_norm(x, dim=d, keepdim=k))

    def _op_ReduceMax(self, node, a):
        return self._reduce(node, a, lambda x, d, k: self.torch.amax(x, dim=d, keepdim=k))

    def _op_ReduceMin(self, node, a):
        return self._reduce(node, a, lambda x, d, k: self.torch.amin(x, dim=d, keepdim=k))

    def _op_Clip(self, node, a):
        i, o = node.input[0], node.output[0]
        lo = node.input[1] if len(node.input) > 1 and node.input[1] else None
        hi = node.input[2] if len(node.input) > 2 and node.input[2] else None

        def step(env):
            env[o] = self.torch.clamp(env[i], env[lo] if lo else None, env[hi] if hi else None)

        return step

    def _op_Expand(self, node, a):
        i, s, o = node.input[0], node.input[1], node.output[0]

        def step(env):
            x = env[i]
            sh = _ints(env[s])
            env[o] = (
                x * self.torch.ones(sh, dtype=x.dtype, device=x.device)
                if x.dtype != self.torch.bool
                else x.expand(*self.torch.broadcast_shapes(x.shape, tuple(sh)))
            )

        return step

    def _op_Shape(self, node, a):
        i, o = node.input[0], node.output[0]

        lo, hi = a.get("start", 0), a.get("end")

        def step(env):
            env[o] = self.torch.tensor(list(env[i].shape)[lo:hi], dtype=self.torch.int64)

        return step
