"""Image keypoint labels: a task point's projected image coordinates are where the renderer draws it."""

import mujoco
import numpy as np
import pytest

import physai
from physai.core.errors import ConfigError
from physai.sim.projection import OFF_IMAGE, project_points
from physai.tasks.tabletop.common import object_joint


def _centroid_of_change(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Edge-normalized (x, y) centre of the pixels that differ between two renders."""
    ys, xs = np.nonzero(np.abs(a.astype(int) - b.astype(int)).sum(-1) > 30)
    if len(xs) == 0:
        return None
    h, w = a.shape[:2]
    return np.array([(xs.mean() + 0.5) / w * 2 - 1, (ys.mean() + 0.5) / h * 2 - 1])


def test_keypoint_labels_match_the_rendered_object():
    env = physai.make("tabletop/pick-place", obs=("state", "images"), privileged=True, image_size=(64, 64),
                      cameras=["scene", "wrist"], image_labels=True)
    names = env.state_names
    kinds = ("red_cube", "green_cylinder", "blue_block", "yellow_puck", "purple_pebble")
    assert [n for n in names if ".px." in n] == [
        f"{k}.px.{c}.{a}" for k in ("target", "tray", *kinds) for c in ("scene", "wrist") for a in "xy"
    ]
    checked = 0
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        label = {c: obs["state"][[names.index(f"target.px.{c}.x"), names.index(f"target.px.{c}.y")]]
                 for c in ("scene", "wrist")}
        kind = env.task.target.name.replace(" ", "_")
        for c in ("scene", "wrist"):  # the named object is also labelled under its own name
            own = obs["state"][[names.index(f"{kind}.px.{c}.x"), names.index(f"{kind}.px.{c}.y")]]
            assert np.array_equal(own, label[c])
        before = {c: obs[f"images/{c}"] for c in ("scene", "wrist")}
        # take the named object away: what changed in each image is where it was drawn
        m, d = env.model, env.data
        adr = m.jnt_qposadr[m.joint(object_joint(env.task.target)).id]
        d.qpos[adr:adr + 3] = [-3.0, 0.0, -1.0]
        mujoco.mj_forward(m, d)
        for c in ("scene", "wrist"):
            where = _centroid_of_change(before[c], env.render_camera(c))
            if where is None:  # not in view from here
                assert np.abs(label[c]).max() >= 0.9, (seed, c, label[c])
                continue
            assert np.abs(where - label[c]).max() < 0.08, (seed, c, where, label[c])  # ~2.5 px of 64
            checked += 1
    assert checked >= 4
    env.close()


def test_points_behind_the_camera_are_off_image():
    env = physai.make("tabletop/pick-place", obs=("state",))
    env.reset(seed=0)
    m, d = env.model, env.data
    cid = m.camera("scene").id
    behind = d.cam_xpos[cid] + d.cam_xmat[cid].reshape(3, 3)[:, 2]  # +z is behind a MuJoCo camera
    ahead = d.cam_xpos[cid] - d.cam_xmat[cid].reshape(3, 3)[:, 2]
    xy = project_points(m, d, "scene", np.stack([behind, ahead]))
    assert np.all(xy[0] == OFF_IMAGE) and np.abs(xy[1]).max() < 1e-6  # the optical axis is the centre
    env.close()


def test_image_labels_are_asked_for_and_need_privileged_images():
    plain = physai.make("tabletop/pick-place", obs=("state", "images"), cameras=["scene"],
                        image_size=(32, 32))
    assert ".px." not in " ".join(plain.state_names)  # a privileged env with images keeps its old layout
    plain.close()
    with pytest.raises(ConfigError, match="image_labels=True needs privileged=True"):
        physai.make("tabletop/pick-place", obs=("state",), image_labels=True)
    with pytest.raises(ConfigError, match="privileged=False"):
        physai.make("tabletop/pick-place", obs=("state", "images"), privileged=False, image_labels=True)
