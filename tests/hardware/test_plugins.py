"""Plugin discovery (built-ins and the test plugin package via an entry point), cache keys, bad devices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physai.core.errors import ConfigError, PackageError, UnknownNameError
from physai.deploy.package import load_package
from physai.deploy.signing import trusted_keys
from physai.hardware.plugins import (
    ArtifactCache,
    CompileSpec,
    cache_key,
    discover,
    get_plugin,
    list_devices,
    package_hash,
    parse_device,
)


def test_builtins_listed_with_reasons():
    doc = list_devices()
    rows = {d["device"]: d for d in doc["devices"]}
    assert {"torch:cpu", "torch:cuda", "ort:cpu", "ort:cuda", "ort:tensorrt", "ort:openvino"} <= set(rows)
    assert rows["ort:cpu"]["available"] and rows["ort:cpu"]["version"].startswith("onnxruntime")
    assert rows["torch:cpu"]["available"]
    for d in rows.values():
        assert d["available"] or d["reason"]  # every unavailable device says why
    json.dumps(doc)


def test_entry_point_plugin_discovered(test_plugin):
    plugins, errors = discover()
    assert "testnpu:sim" in plugins
    assert plugins["testnpu:sim"].probe().version == "testnpu-sdk 0.1"
    ((origin, err),) = errors.items()  # the broken plugin is reported, not fatal
    assert origin.startswith("broken") and "vendor SDK not initialised" in err
    assert any(d["device"] == "testnpu:sim" and d["available"] for d in list_devices()["devices"])


def test_unknown_device_and_precision():
    with pytest.raises(UnknownNameError, match="unknown device 'nope:x'.*ort:cpu"):
        get_plugin("nope:x")
    assert parse_device("ort:cpu@int8") == ("ort:cpu", "int8")
    with pytest.raises(ConfigError, match="precision 'int4'"):
        parse_device("ort:cpu@int4")


def test_cache_key_and_cache(package, keys, tmp_path):
    pkg = load_package(package, trusted_keys(keys[1]))
    h = package_hash(pkg)
    base = cache_key(h, "ort:cpu", "fp32", [[1, 6]])
    assert base == cache_key(h, "ort:cpu", "fp32", [[1, 6]])
    others = {
        cache_key(h, "torch:cpu", "fp32", [[1, 6]]),
        cache_key(h, "ort:cpu", "int8", [[1, 6]]),
        cache_key(h, "ort:cpu", "fp32", [[4, 6]]),
        cache_key("0" * 64, "ort:cpu", "fp32", [[1, 6]]),
    }
    assert base not in others and len(others) == 4

    cache = ArtifactCache(tmp_path / "cache")
    ort = get_plugin("ort:cpu")
    a1 = ort.compile(pkg, CompileSpec(), cache)
    a2 = ort.compile(pkg, CompileSpec(), cache)
    assert not a1.meta["cache_hit"] and a2.meta["cache_hit"] and a1.key == a2.key
    a3 = ort.compile(pkg, CompileSpec(batch=4), cache)
    assert a3.key != a1.key and a3.meta["shapes"] == [[4, 6]]
    # a damaged cached artifact is dropped and rebuilt, never loaded
    (a1.path / "model.onnx").write_bytes(b"garbage")
    a4 = ort.compile(pkg, CompileSpec(), cache)
    assert not a4.meta["cache_hit"]
    x = [np.ones((1, 6), np.float32)]
    np.testing.assert_allclose(ort.load(a4).run(x), pkg.infer({"state": x[0][0]})[None], atol=1e-6)


def test_torch_matches_ort_and_refuses_unknown_ops(package, keys, tmp_path):
    pkg = load_package(package, trusted_keys(keys[1]))
    cache = ArtifactCache(tmp_path)
    x = [np.random.default_rng(0).normal(size=(1, 6)).astype(np.float32)]
    t = get_plugin("torch:cpu")
    y = t.load(t.compile(pkg, CompileSpec(), cache)).run(x)
    np.testing.assert_allclose(y, pkg.infer({"state": x[0][0]})[None], atol=1e-5)
    import onnx
    from onnx import helper

    from physai.hardware.torch_onnx import TorchGraph

    g = helper.make_graph(
        [helper.make_node("Hardmax", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2])],
    )
    with pytest.raises(PackageError, match="Hardmax.*ort"):
        TorchGraph(helper.make_model(g).SerializeToString())
