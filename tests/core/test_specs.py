"""ArraySpec: validation names the shape or the non-finite elements, clipping counts what it changed,
the JSON description round-trips; error messages list the valid names and name both robots."""

import json

import numpy as np
import pytest

from physai.core.errors import ConfigError, PhysaiError, RobotMismatchError, UnknownNameError
from physai.core.specs import ArraySpec

SPEC = ArraySpec((3,), "float32", np.array([-1, -1, 0], np.float32), np.array([1, 1, 2], np.float32),
                 ("a", "b", "c"))


def test_validate_names_shape_and_bad_elements():
    np.testing.assert_array_equal(SPEC.validate([0.5, 0, 1]), np.array([0.5, 0, 1], np.float32))
    with pytest.raises(ValueError, match=r"action has shape \(2,\), expected \(3,\)"):
        SPEC.validate([1, 2], "action")
    with pytest.raises(ValueError, match=r"NaN or inf at flat indices \[0, 2\]"):
        SPEC.validate([np.nan, 0, np.inf])


def test_clip_counts_changed_elements_and_keeps_dtype():
    out, n = SPEC.clip(np.array([2.0, -0.5, -3.0], np.float32))
    np.testing.assert_array_equal(out, [1.0, -0.5, 0.0])
    assert n == 2 and out.dtype == np.float32
    unbounded = ArraySpec((2,))
    out, n = unbounded.clip(np.array([1e9, -1e9], np.float32))
    assert n == 0


def test_to_dict_is_json():
    d = json.loads(json.dumps(SPEC.to_dict()))
    assert d == {"shape": [3], "dtype": "float32", "names": ["a", "b", "c"], "low": [-1, -1, 0],
                 "high": [1, 1, 2]}
    assert ArraySpec([4]).shape == (4,)  # any sequence becomes a tuple of ints


def test_error_messages_name_the_valid_choices_and_both_robots():
    e = UnknownNameError("policy", "nope", ["mlp", "act"])
    assert str(e) == "unknown policy 'nope'; valid policies: act, mlp"
    assert isinstance(e, KeyError) and isinstance(e, PhysaiError)
    assert "valid control modes of arm7: ee_delta" in str(UnknownNameError("control mode of arm7", "x",
                                                                             ["ee_delta"]))
    assert "(none)" in str(UnknownNameError("box", "x", []))
    m = RobotMismatchError("checkpoint ck", "arm7", "task t", "hand16", "train on hand16 data")
    assert isinstance(m, ConfigError)
    assert "'arm7'" in str(m) and "'hand16'" in str(m) and str(m).endswith("train on hand16 data")
