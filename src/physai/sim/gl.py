"""Offscreen OpenGL backend selection for MuJoCo rendering.

MuJoCo reads `MUJOCO_GL` when `mujoco` is first imported, so `configure()` runs before that import
(`physai.sim` calls it). A value the user set is respected; otherwise EGL is chosen when libEGL is
present, then OSMesa. `check()` raises a `GLBackendError` that says how to install one.
"""

from __future__ import annotations

import ctypes.util
import os

from physai.core.errors import GLBackendError

_LIBS = {"egl": ("EGL",), "osmesa": ("OSMesa",), "glfw": ("glfw",)}
_HELP = (
    "Offscreen rendering needs EGL or OSMesa. On Debian/Ubuntu: `apt-get install libegl1 libgl1-mesa-dri` "
    "(EGL, uses the GPU driver or Mesa's llvmpipe) or `apt-get install libosmesa6` (OSMesa, CPU only), "
    "then set MUJOCO_GL=egl or MUJOCO_GL=osmesa."
)


def available_backends() -> list[str]:
    """Backends whose shared library can be found on this machine."""
    return [name for name, libs in _LIBS.items() if all(ctypes.util.find_library(lib) for lib in libs)]


def configure() -> str:
    """Set MUJOCO_GL (and PYOPENGL_PLATFORM) if the user did not; returns the backend in effect."""
    backend = os.environ.get("MUJOCO_GL", "").lower()
    if not backend:
        found = [b for b in ("egl", "osmesa") if b in available_backends()]
        backend = found[0] if found else "egl"
        os.environ["MUJOCO_GL"] = backend
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def check(backend: str | None = None) -> None:
    """Raise GLBackendError when the chosen backend's library is missing."""
    backend = (backend or os.environ.get("MUJOCO_GL", "egl")).lower()
    if backend not in _LIBS:
        raise GLBackendError(f"MUJOCO_GL={backend!r} is not a known backend (egl, osmesa, glfw). {_HELP}")
    if backend not in available_backends():
        raise GLBackendError(f"MUJOCO_GL={backend!r} but its library was not found. {_HELP}")


def wrap_error(exc: Exception) -> GLBackendError:
    """Turn a low-level GL failure into a GLBackendError with installation help."""
    backend = os.environ.get("MUJOCO_GL", "?")
    return GLBackendError(f"could not create an OpenGL context with MUJOCO_GL={backend}: {exc}. {_HELP}")
