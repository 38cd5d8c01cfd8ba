import numpy as np

import physai
from physai.sim.render import RenderConfig, Renderer


def test_coarse_rendering_keeps_model_quality_and_looks_the_same():
    env = physai.make("tabletop/push")
    env.reset(seed=0)
    q = env.model.vis.quality
    before = (q.numslices, q.numstacks, q.numquads)
    imgs = []
    for coarse in (False, True):
        r = Renderer(env.model, RenderConfig(64, 64, coarse=coarse))
        imgs.append(r.render(env.data, "scene").astype(int))
        r.close()
    assert (q.numslices, q.numstacks, q.numquads) == before
    assert np.abs(imgs[0] - imgs[1]).mean() < 4.0 and imgs[1].std() > 1
    env.close()
