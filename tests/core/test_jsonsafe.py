"""The one JSON sanitizer: every value it returns survives a strict json.dumps."""

import json
import math

import numpy as np
import pytest

from physai.core.jsonsafe import MAX_DEPTH, json_default, json_safe


def test_numpy_nonfinite_bytes_tuples_and_objects_become_json():
    doc = {
        1: (np.float32(1.5), np.int64(3)),
        "arr": np.array([1.0, np.nan, np.inf]),
        "b": b"ok\xff",
        "f": -math.inf,
        "obj": object,
        "none": None,
    }
    out = json_safe(doc)
    json.dumps(out, allow_nan=False)  # would raise on NaN/inf or foreign objects
    assert out["1"] == [1.5, 3]
    assert out["arr"] == [1.0, "nan", "inf"]
    assert out["b"] == "ok\ufffd" and out["f"] == "-inf"
    assert out["obj"] == str(object) and out["none"] is None


def test_limit_bounds_untrusted_documents():
    deep: dict = {}
    cur = deep
    for _ in range(12):
        cur["x"] = {}
        cur = cur["x"]
    out = json_safe({"big": np.zeros((100, 3)), "list": list(range(1000)), "raw": b"\0" * 9, "deep": deep},
                    limit=64)
    assert out["big"] == {"array_shape": [100, 3], "dtype": "float64"}
    assert out["list"] == list(range(64)) and out["raw"] == "<9 bytes>"
    node, levels = out["deep"], 1
    while isinstance(node, dict):
        node, levels = node["x"], levels + 1
    assert isinstance(node, str) and levels == MAX_DEPTH + 1  # cut to a string past MAX_DEPTH
    json.dumps(out, allow_nan=False)


def test_json_default_hook_converts_numpy_and_names_other_types():
    assert json.loads(json.dumps({"a": np.arange(3), "s": np.float64(2)}, default=json_default)) == {
        "a": [0, 1, 2], "s": 2.0}
    with pytest.raises(TypeError, match="set"):
        json.dumps({"x": {1}}, default=json_default)
