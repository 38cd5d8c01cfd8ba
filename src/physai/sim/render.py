"""Offscreen rendering through `mujoco.Renderer`, fast by default (no shadows, reflections or MSAA,
coarser primitive tessellation)."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.sim import gl


@dataclass
class RenderConfig:
    """How camera images are rendered."""

    width: int = 128
    """Image width in pixels."""
    height: int = 128
    """Image height in pixels."""
    pretty: bool = False
    """Shadows, reflections and skybox for nicer videos (slower)."""
    coarse: bool = True
    """Without `pretty`: tessellate curved primitives and box faces coarser (`COARSE_SLICES`,
    `COARSE_STACKS`, `COARSE_QUADS`): about 2x the frame rate on software GL, images differ by about
    1.5/255 per pixel on average at 128x128. The model's own quality settings are left unchanged."""


COARSE_SLICES = 16  # MuJoCo's default is 28
COARSE_STACKS = 8  # default 16
COARSE_QUADS = 2  # default 4 (subdivisions of box faces, which carry the per-vertex lighting)


class Renderer:
    """Renders named cameras of one model/data pair to uint8 HxWx3 arrays."""

    def __init__(self, model: mujoco.MjModel, config: RenderConfig | None = None) -> None:
        self.config = cfg = config or RenderConfig()
        gl.check()
        if cfg.pretty:
            model.vis.quality.shadowsize = max(model.vis.quality.shadowsize, 2048)
            model.vis.quality.offsamples = max(model.vis.quality.offsamples, 4)
        off_w, off_h = model.vis.global_.offwidth, model.vis.global_.offheight
        if cfg.width > off_w or cfg.height > off_h:
            model.vis.global_.offwidth = max(off_w, cfg.width)
            model.vis.global_.offheight = max(off_h, cfg.height)
        q = model.vis.quality
        saved = (q.numslices, q.numstacks, q.numquads)
        if cfg.coarse and not cfg.pretty:  # the primitive meshes are built once, with the context
            q.numslices = min(q.numslices, COARSE_SLICES)
            q.numstacks = min(q.numstacks, COARSE_STACKS)
            q.numquads = min(q.numquads, COARSE_QUADS)
        try:
            self._r = mujoco.Renderer(model, cfg.height, cfg.width)
        except Exception as exc:  # mujoco raises several types for GL failures
            raise gl.wrap_error(exc) from exc
        finally:
            q.numslices, q.numstacks, q.numquads = saved
        flags = self._r.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(cfg.pretty)
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(cfg.pretty)
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
        self._model = model

    def render(self, data: mujoco.MjData, camera: str | int) -> np.ndarray:
        """One RGB frame (H, W, 3) uint8 from `camera` (name or id)."""
        self._r.update_scene(data, camera=camera)
        return self._r.render()

    def close(self) -> None:
        """Release the GL context."""
        self._r.close()
