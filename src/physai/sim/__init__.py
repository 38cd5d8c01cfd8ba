"""MuJoCo simulation core: scene assembly with MjSpec, rendering, differential IK."""

from physai.sim import gl as _gl

_gl.configure()  # must run before the first `import mujoco`

from physai.sim.ik import DLSIK  # noqa: E402
from physai.sim.render import RenderConfig, Renderer  # noqa: E402
from physai.sim.scene import SceneConfig, new_scene  # noqa: E402

__all__ = ["DLSIK", "RenderConfig", "Renderer", "SceneConfig", "new_scene"]
