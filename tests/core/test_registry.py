import numpy as np
import pytest

from physai.core.errors import UnknownNameError
from physai.core.registry import Registry
from physai.core.specs import ArraySpec


def test_register_and_get():
    reg: Registry = Registry("widget")

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A
    assert "a" in reg and reg.names() == ["a"]


def test_unknown_name_lists_valid_names():
    reg: Registry = Registry("widget")
    reg.register("alpha")(object)
    reg.register("beta")(int)
    with pytest.raises(UnknownNameError) as exc:
        reg.get("gamma")
    msg = str(exc.value)
    assert "gamma" in msg and "alpha" in msg and "beta" in msg and "widget" in msg


def test_duplicate_registration_refused():
    reg: Registry = Registry("widget")
    reg.register("a")(int)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(float)


def test_arrayspec_validate_and_clip():
    spec = ArraySpec((3,), low=np.zeros(3, np.float32), high=np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"expected \(3,\)"):
        spec.validate(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        spec.validate([0, np.nan, 0])
    out, n = spec.clip(spec.validate([2.0, 0.5, -1.0]))
    assert n == 2 and out.tolist() == [1.0, 0.5, 0.0]
