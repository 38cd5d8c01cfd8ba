import pytest

from physai.core.errors import GLBackendError
from physai.sim import gl


def test_configure_respects_the_users_choice(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    assert gl.configure() == "osmesa"
    assert gl.os.environ["PYOPENGL_PLATFORM"] == "osmesa"


def test_configure_picks_egl_then_osmesa(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(gl, "available_backends", lambda: ["osmesa"])
    assert gl.configure() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(gl, "available_backends", lambda: ["egl", "osmesa"])
    assert gl.configure() == "egl"


def test_missing_backend_names_the_packages_to_install(monkeypatch):
    monkeypatch.setattr(gl, "available_backends", lambda: [])
    with pytest.raises(GLBackendError) as exc:
        gl.check("egl")
    msg = str(exc.value)
    assert "MUJOCO_GL='egl'" in msg and "libegl1" in msg and "libosmesa6" in msg and "MUJOCO_GL=osmesa" in msg


def test_unknown_backend_is_refused():
    with pytest.raises(GLBackendError, match="not a known backend"):
        gl.check("vulkan")
