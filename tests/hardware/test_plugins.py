"""Plugin discovery (built-ins and the test plugin package via an entry point), cache keys, bad devices."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat

import numpy as np
import pytest

from physai.core.errors import ConfigError, PackageError, UnknownNameError
from physai.deploy.package import load_package
from physai.deploy.signing import trusted_keys
from physai.hardware.discovery import discover, get_plugin, list_devices
from physai.hardware.plugins import ArtifactCache, CompileSpec, cache_key, package_hash, parse_device


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


def _planted_onnx() -> bytes:
    """A valid model with the package's input/output shapes that is not the package's model."""
    import onnx
    from onnx import helper

    g = helper.make_graph(
        [
            helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", 1, [8], [9.0] * 8)),
            helper.make_node("Reshape", ["c", "s"], ["a"]),
            helper.make_node("Expand", ["a", "shp"], ["y"]),
        ],
        "planted",
        [helper.make_tensor_value_info("state", onnx.TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 2])],
        initializer=[
            helper.make_tensor("s", onnx.TensorProto.INT64, [3], [1, 4, 2]),
            helper.make_tensor("shp", onnx.TensorProto.INT64, [3], [1, 4, 2]),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_planted_artifact_is_rebuilt_never_run(package, keys, tmp_path):
    """A model planted in the cache with a self-consistent artifact.json (what an attacker who can write
    the cache folder writes) is refused by the cache's authentication and rebuilt from the package."""
    pkg = load_package(package, trusted_keys(keys[1]))
    cache = ArtifactCache(tmp_path / "cache")
    ort = get_plugin("ort:cpu")
    art = ort.compile(pkg, CompileSpec(), cache)
    x = [np.ones((1, 6), np.float32)]
    want = pkg.infer({"state": x[0][0]})[None]
    evil = _planted_onnx()
    doc = json.loads((art.path / "artifact.json").read_text())
    doc["files"] = {"model.onnx": hashlib.sha256(evil).hexdigest()}
    (art.path / "model.onnx").write_bytes(evil)
    (art.path / "artifact.json").write_text(json.dumps(doc))
    again = ort.compile(pkg, CompileSpec(), cache)
    assert not again.meta["cache_hit"]  # dropped and rebuilt from the verified package
    np.testing.assert_allclose(ort.load(again).run(x), want, atol=1e-6)
    # a whole entry planted under the right key, without the cache's secret: rebuilt too
    shutil.rmtree(art.path)
    art.path.mkdir()
    (art.path / "model.onnx").write_bytes(evil)
    (art.path / "artifact.json").write_text(json.dumps({"key": art.key, "package": package_hash(pkg),
                                                        "files": doc["files"], "mac": "0" * 64}))
    again = ort.compile(pkg, CompileSpec(), cache)
    assert not again.meta["cache_hit"]
    np.testing.assert_allclose(ort.load(again).run(x), want, atol=1e-6)
    # an authentic entry of another package copied under this key: its record names the other package
    other = ArtifactCache(tmp_path / "cache", key_path=cache.key_path)
    other.put(art.key, {"model.onnx": evil}, {}, package="0" * 64)
    assert not ort.compile(pkg, CompileSpec(), cache).meta["cache_hit"]
    # the file swapped after the check (between compile and load): refused at load
    art = ort.compile(pkg, CompileSpec(), cache)
    assert art.meta["cache_hit"]
    (art.path / "model.onnx").write_bytes(evil)
    with pytest.raises(PackageError, match="changed after the artifact cache verified it"):
        ort.load(art)
    for dev in ("torch:cpu",):
        t = get_plugin(dev)
        a = t.compile(pkg, CompileSpec(), cache)
        (a.path / "model.onnx").write_bytes(evil)
        with pytest.raises(PackageError, match="changed after"):
            t.load(a)


def test_cache_key_file_must_be_private(tmp_path):
    key = tmp_path / "k"
    cache = ArtifactCache(tmp_path / "c", key_path=key)
    cache.put("a" * 32, {"m": b"x"}, {}, package="p")
    assert cache.get("a" * 32, "p") is not None and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert cache.get("a" * 32, "q") is None  # another package's hash: dropped
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        ArtifactCache(tmp_path / "c", key_path=key).put("b" * 32, {"m": b"x"}, {}, package="p")
