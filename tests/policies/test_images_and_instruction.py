"""Random-shift image augmentation, keypoint image features, and act's instruction token."""

import numpy as np
import pytest
import torch
from test_policies import _build, _cfg, _fit

from physai.policies import load_policy, make_policy
from physai.policies.base import random_shift
from physai.policies.layers import KeypointEncoder, QueryKeypointEncoder, point_targets, soft_cell_kl
from physai.train.data import build_cache, group_stats, spec_from_dataset
from physai.train.memory import InMemoryDataset


def test_random_shift_is_a_per_sample_translation_with_repeated_borders():
    torch.manual_seed(0)
    img = torch.rand(16, 3, 10, 12)
    out = random_shift(img, 0.2)  # up to 2 px vertically, 2 px horizontally
    assert out.shape == img.shape
    padded = torch.nn.functional.pad(img, (2, 2, 2, 2), mode="replicate")
    shifts = set()
    for b in range(16):
        match = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(out[b], padded[b, :, dy : dy + 10, dx : dx + 12])
        ]
        assert match, b  # every sample is one crop of the edge-padded image
        shifts.add(match[0])
    assert len(shifts) > 3  # and the crops differ between samples


def test_shift_augments_training_only(tiny_img_ds, small):
    over = {**small["act"], "use_vae": False, "image_shift": 0.25}
    pol, cache = _build("act", tiny_img_ds, over)
    batch = cache.batch(torch.arange(8))
    pol.train()
    torch.manual_seed(0)
    a, _ = pol([batch])
    b, _ = pol([batch])
    assert not torch.equal(a, b)  # dropout is 0 and there is no latent: only the shift differs
    pol.eval()
    c, _ = pol([batch])
    d, _ = pol([batch])
    assert torch.equal(c, d)


def test_keypoint_encoder_follows_a_moving_blob():
    """A hand-set 1-channel net that responds to brightness puts its keypoint on the bright square."""
    enc = KeypointEncoder(d_out=4, channels=8, keypoints=1)
    feats = {}
    enc.out.register_forward_hook(lambda m, i, o: feats.__setitem__("kp", i[0][:, :2]))
    with torch.no_grad():
        # the conv net replaced by a brightness map at 1/4 resolution
        enc.net = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Conv2d(3, 1, 1))
        enc.net[1].weight.fill_(10.0)
        enc.net[1].bias.zero_()
        xs = []
        for x0 in (4, 28, 52):
            img = torch.zeros(1, 3, 64, 64)
            img[:, :, 28:36, x0 : x0 + 8] = 1.0
            enc(img)
            xs.append(float(feats["kp"][0, 0]))
    assert xs[0] < -0.6 and abs(xs[1]) < 0.2 and xs[2] > 0.6, xs  # left, centre, right in [-1, 1]


def test_query_encoder_finds_the_object_the_text_names():
    """Hand-set weights: pixel features = colour; the text vector picks which colour to look for."""
    enc = QueryKeypointEncoder(d_out=4, d_text=2, channels=8, queries=1, text_queries=1)
    seen = {}
    enc.out.register_forward_hook(lambda m, i, o: seen.__setitem__("x", i[0][:, :, :2]))
    with torch.no_grad():
        enc.net = torch.nn.Conv2d(3, 8, 1)  # channels 0-2: (img - 0.5) / 0.25, the others 0
        enc.net.weight.copy_(torch.eye(8, 3)[:, :, None, None])
        enc.net.bias.zero_()
        enc.from_text.weight.zero_()
        enc.from_text.weight[0, 0] = enc.from_text.weight[2, 1] = 20.0  # red -> channel 0, blue -> 2
        enc.from_text.bias.zero_()
        img = torch.zeros(2, 3, 32, 32)
        img[0, 0, 12:18, 2:8] = 1.0  # red on the left, blue on the right
        img[0, 2, 12:18, 24:30] = 1.0
        img[1] = img[0].flip(-1)  # and the other way round
        red, blue = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        xs = {}
        for name, t in (("red", red), ("blue", blue)):
            enc(img, t.expand(2, -1))
            xs[name] = seen["x"][:, 1, 0].tolist()  # query 1 is the text query; x of both images
        with pytest.raises(ValueError, match="text"):
            enc(img)
    assert xs["red"][0] < -0.5 and xs["red"][1] > 0.5, xs
    assert xs["blue"][0] > 0.5 and xs["blue"][1] < -0.5, xs
    assert enc.n_queries == 2


def test_act_image_checkpoint_from_before_keypoints_loads_as_grid(tiny_img_ds, small, tmp_path):
    import json

    pol, cache = _build("act", tiny_img_ds, {**small["act"], "image_features": "grid"})
    pol.eval().save(tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    for k in ("image_features", "image_shift"):  # written before these options existed
        doc["config"].pop(k)
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    old = load_policy(tmp_path / "old")
    assert old.config.image_features == "grid" and old.config.image_shift == 0.0
    batch = cache.batch(torch.arange(3))
    assert torch.equal(old.predict_chunk(batch), pol.predict_chunk(batch))


def _instruction_dataset() -> InMemoryDataset:
    """Same states in every episode; the instruction alone says whether to move left or right."""
    t = np.linspace(0, 1, 20, dtype=np.float32)[:, None]
    state = np.concatenate([t, 1 - t, np.zeros_like(t)], axis=1).astype(np.float32)
    eps = []
    for i in range(6):
        sign = 1.0 if i % 2 == 0 else -1.0
        action = np.tile([[0.8 * sign, 0.0]], (20, 1)).astype(np.float32)
        eps.append({"state": state, "action": action, "task": "move left" if sign > 0 else "move right"})
    return InMemoryDataset(eps, robot_type="toy", control="joint_pos")


@pytest.mark.parametrize("use_instruction", [True, False])
def test_act_instruction_token_decides_between_tasks(use_instruction, small, tmp_path):
    ds = _instruction_dataset()
    over = {**small["act"], "use_vae": False, "use_instruction": use_instruction}
    cfg = _cfg("act", over)
    spec = spec_from_dataset(ds, cfg)
    torch.manual_seed(0)
    pol = make_policy("act", [spec], [group_stats([ds])], cfg)
    _fit(pol, build_cache([ds], spec, cfg.chunk_size), 120)
    pol.eval()
    obs = {"state": ds.state[5]}
    acts = {}
    for text in ("move left", "move right"):
        pol.reset()
        acts[text] = pol.act({**obs, "instruction": text})[0]
    if not use_instruction:  # the state cannot tell: both get the same (average) action
        assert acts["move left"] == acts["move right"]
        assert "instruction" not in pol.env_kwargs()["obs"]
        return
    assert acts["move left"] > 0.5 and acts["move right"] < -0.5
    assert pol.env_kwargs()["obs"] == ("state", "instruction")
    pol.save(tmp_path / "c")
    loaded = load_policy(tmp_path / "c")
    loaded.reset()
    assert loaded.act({**obs, "instruction": "move right"})[0] == pytest.approx(acts["move right"])
    exp = loaded.export_module(instruction="move right")
    with torch.no_grad():
        assert float(exp(torch.as_tensor(ds.state[5:6]))[0, 0, 0]) < -0.5


def _privileged_image_dataset(size: int = 16) -> InMemoryDataset:
    """The object's x is in the state (privileged) and drawn in the image; the action is to reach it."""
    rng = np.random.default_rng(0)
    eps = []
    for _ in range(6):
        p = rng.uniform(0, 1, size=24).astype(np.float32)
        q = rng.normal(size=24).astype(np.float32)
        img = np.zeros((24, size, size, 3), np.uint8)
        for k in range(24):
            x = int(p[k] * (size - 4))
            img[k, 6:10, x : x + 4] = 255
        eps.append({"state": np.stack([p, q], 1), "action": (p - 0.5)[:, None] * 2,
                    "task": "reach", "images": {"front": img}})
    return InMemoryDataset(eps, robot_type="toy-cam", state_names=["obj.pos.x", "robot.q"])


def test_act_aux_state_learns_privileged_labels_from_images_without_reading_them(small):
    ds = _privileged_image_dataset()
    over = {**small["act"], "use_vae": False, "image_shift": 0.0,
            "exclude_state": ["obj."], "aux_state": ["obj.pos.x"]}
    pol, cache = _build("act", ds, over)
    auxes = _fit(pol, cache, 150, metric="aux")
    assert np.mean(auxes[-10:]) < 0.3 * np.mean(auxes[:5])  # it reads the object's x from the picture
    pol.eval()
    batch = cache.batch(torch.arange(8))
    moved = {**batch, "observation.state": batch["observation.state"].clone()}
    moved["observation.state"][:, 0] += 5.0  # the privileged column is never an input
    assert torch.equal(pol.predict_chunk(batch), pol.predict_chunk(moved))


def _blob_images(xs: np.ndarray, size: int = 16) -> np.ndarray:
    """(N, size, size, 3) uint8: a white 4 x 4 square at horizontal place xs in [0, 1]."""
    img = np.zeros((len(xs), size, size, 3), np.uint8)
    for k, p in enumerate(xs):
        x = int(round(p * (size - 4)))
        img[k, 6:10, x : x + 4] = 255
    return img


def test_act_query_features_reach_objects_at_new_places(small, tmp_path):
    """act with image_features='query' reads the object's place from the picture, also in new pictures."""
    rng = np.random.default_rng(0)
    eps = []
    for p in rng.uniform(0, 1, size=12).astype(np.float32):  # one place per episode: 12 layouts
        eps.append({"state": rng.normal(size=(10, 1)).astype(np.float32),
                    "action": np.full((10, 1), (p - 0.5) * 2, np.float32), "task": "reach",
                    "images": {"front": _blob_images(np.full(10, p))}})
    ds = InMemoryDataset(eps, robot_type="toy-cam", state_names=["robot.q"])
    over = {**small["act"], "use_vae": False, "image_shift": 0.0, "image_features": "query"}
    pol, cache = _build("act", ds, over)
    losses = _fit(pol, cache, 200)
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:5])
    pol.eval()
    p = np.random.default_rng(1).uniform(0.05, 0.95, size=16).astype(np.float32)  # new layouts
    batch = cache.batch(torch.arange(16))
    batch["observation.images.front"] = torch.as_tensor(_blob_images(p)).permute(0, 3, 1, 2).float() / 255
    pred = pol.predict_chunk(batch)[:, 0, 0].numpy()
    err = np.abs(pred - (p - 0.5) * 2)
    assert err.mean() < 0.2, err  # the targets span [-0.9, 0.9]
    pol.save(tmp_path / "q")
    assert torch.equal(load_policy(tmp_path / "q").predict_chunk(batch), pol.predict_chunk(batch))


def _labelled_blob_dataset(n_eps: int, seed: int) -> InMemoryDataset:
    """A blob at a new place per episode, its image coordinates as privileged labels, a constant action."""
    rng = np.random.default_rng(seed)
    eps = []
    for p in rng.uniform(0, 1, size=n_eps).astype(np.float32):
        x = int(round(p * 12))
        label = np.array([(x + 2) / 16 * 2 - 1, 8 / 16 * 2 - 1], np.float32)  # the blob's centre
        eps.append({"state": np.concatenate([rng.normal(size=(10, 1)), np.tile(label, (10, 1))], 1)
                    .astype(np.float32), "action": np.zeros((10, 1), np.float32), "task": "reach",
                    "images": {"front": _blob_images(np.full(10, p))}})
    names = ["robot.q", "obj.px.front.x", "obj.px.front.y"]
    return InMemoryDataset(eps, robot_type="toy-cam", state_names=names)


def test_bilinear_point_targets_put_the_expected_point_on_the_point():
    h, w = 8, 12
    xy = torch.tensor([[0.13, -0.41], [-0.7, 0.66], [0.9, 0.9], [1.2, 0.0]])
    idx, wts, seen = point_targets(xy, h, w)
    assert seen.tolist() == [True, True, True, False]
    assert torch.allclose(wts.sum(-1), torch.ones(4)) and bool((wts >= 0).all())
    gy, gx = torch.meshgrid(torch.linspace(-1 + 1 / h, 1 - 1 / h, h),  # cell centres, as locate()
                            torch.linspace(-1 + 1 / w, 1 - 1 / w, w), indexing="ij")
    centres = torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)
    expected = (wts[..., None] * centres[idx]).sum(1)
    assert torch.allclose(expected[:2], xy[:2], atol=1e-5)  # between cell centres, not snapped to one
    # the optimal attention (the targets themselves) has zero loss; a one-cell attention does not
    best = torch.full((4, h * w), -30.0)
    best.scatter_(1, idx, torch.log(wts.clamp(min=1e-12)))
    assert float(soft_cell_kl(best.view(4, h, w), xy)) < 1e-4
    one = torch.full((4, h * w), -30.0)
    one.scatter_(1, idx[:, :1], 0.0)
    assert float(soft_cell_kl(one.view(4, h, w), xy)) > 0.1


def test_act_aux_keypoints_teach_the_query_where_the_object_is(small):
    over = {**small["act"], "use_vae": False, "image_shift": 0.0, "image_features": "query",
            "exclude_state": [".px."], "aux_keypoints": ["obj"]}
    pol, cache = _build("act", _labelled_blob_dataset(8, 0), over)
    assert pol.env_kwargs()["image_labels"] is True  # its eval env must record the labels too
    kps = _fit(pol, cache, 150, metric="kp")
    assert np.mean(kps[-10:]) < 0.3 * np.mean(kps[:5])
    new = _labelled_blob_dataset(8, 1)  # places it was not trained on
    _, new_cache = _build("act", new, over)
    batch = new_cache.batch(torch.arange(0, 80, 10))
    nb = pol.prepare(batch)
    with torch.no_grad():
        _, xy, _ = pol.cams[0].locate(nb["images"][0])
    label = nb["state_raw"][:, 1:3]
    err = (xy[:, pol.kp_query[0]] - label).abs()
    assert err.max() < 0.15, (xy[:, pol.kp_query[0]], label)  # ~1 px of 16


def test_act_aux_keypoints_need_query_features_labels_and_exclusion(small):
    from physai.core.errors import ConfigError

    ds = _labelled_blob_dataset(2, 0)
    base = {**small["act"], "image_features": "query", "exclude_state": [".px."], "aux_keypoints": ["obj"]}
    with pytest.raises(ConfigError, match="image_features='query'"):
        _build("act", ds, {**base, "image_features": "keypoints"})
    with pytest.raises(ConfigError, match=r"obj\.px"):
        _build("act", ds, {**base, "exclude_state": []})
    with pytest.raises(ConfigError, match=r"no labels \['cup\.px\.front\.x'"):
        _build("act", ds, {**base, "aux_keypoints": ["cup"]})
    with pytest.raises(ConfigError, match="at least one query"):  # text queries need the instruction
        _build("act", ds, {**base, "image_queries": 0, "image_text_queries": 2})
    with pytest.raises(ConfigError, match="more than the 1 queries"):
        _build("act", ds, {**base, "image_queries": 1, "aux_keypoints": ["obj", "obj"]})
    with pytest.raises(ConfigError, match=r"unknown ACTConfig fields \['aux_keypoint_target'\]"):
        _build("act", ds, {**base, "aux_keypoint_target": "bilinear"})  # removed: 'cell' lost (39% vs 62%)
    with pytest.raises(ConfigError, match="token_keypoints=2 needs 1..len"):
        _build("act", ds, {**base, "token_keypoints": 2})


def test_act_token_keypoints_reads_only_the_first_supervised_queries(small):
    over = {**small["act"], "use_vae": False, "image_shift": 0.0, "image_features": "query",
            "image_queries": 3, "exclude_state": [".px."], "aux_keypoints": ["obj"], "token_keypoints": 1}
    pol, cache = _build("act", _labelled_blob_dataset(2, 0), over)
    pol.sample(pol.prepare(cache.batch(torch.arange(4)))).sum().backward()
    grad = pol.cams[0].queries.grad.abs().sum(-1)
    assert grad[0] > 0 and float(grad[1:].sum()) == 0.0  # the unread queries do not reach the actions


def test_query_tokens_without_appearance_carry_only_places():
    enc = QueryKeypointEncoder(d_out=8, queries=3, appearance=False)
    seen = {}
    enc.out.register_forward_hook(lambda m, i, o: seen.__setitem__("in", i[0]))
    tokens = enc(torch.rand(2, 3, 16, 16))
    assert tokens.shape == (2, 3, 8)
    assert torch.all(seen["in"][..., 5:] == 0) and torch.any(seen["in"][..., :5] != 0)


def test_act_aux_state_must_be_excluded_from_the_inputs_and_exist(small):
    from physai.core.errors import ConfigError

    ds = _privileged_image_dataset()
    with pytest.raises(ConfigError, match=r"obj\.pos\.x.*exclude_state"):
        _build("act", ds, {**small["act"], "aux_state": ["obj.pos.x"]})
    with pytest.raises(ConfigError, match=r"obj\.pos\.y.*not in the dataset"):
        _build("act", ds, {**small["act"], "exclude_state": ["obj."], "aux_state": ["obj.pos.y"]})


def test_an_excluded_quaternion_adds_no_heading_features():
    from physai.policies.features import StateFeatures

    names = ["ee.pos.x", *(f"target.quat.{a}" for a in "wxyz"), "grip.yaw"]
    assert StateFeatures(names, angles=True).out_dim == 6 + 4 * 2
    assert StateFeatures(names, angles=True, exclude=["target."]).out_dim == 2 + 4  # only grip.yaw's


def test_vla_with_default_text_dropout_still_follows_the_instruction(small):
    """Hiding the instruction from half the training samples (the default) must not stop the vla from
    learning a choice that only the instruction can make."""
    ds = _instruction_dataset()
    cfg = _cfg("vla", small["vla"])
    assert cfg.text_dropout == 0.5
    spec = spec_from_dataset(ds, cfg)
    torch.manual_seed(0)
    pol = make_policy("vla", [spec], [group_stats([ds])], cfg)
    _fit(pol, build_cache([ds], spec, cfg.chunk_size), 300)
    pol.eval()
    acts = {}
    for text in ("move left", "move right"):
        pol.reset()
        acts[text] = pol.act({"state": ds.state[5], "instruction": text})[0]
    assert acts["move left"] > 0.4 and acts["move right"] < -0.4, acts


def test_act_query_features_export_to_onnx(tiny_img_ds, small, tmp_path):
    from physai.deploy.package import ExportConfig, export_package

    over = {**small["act"], "image_features": "query", "image_queries": 2, "image_text_queries": 2,
            "use_instruction": True}
    pol, cache = _build("act", tiny_img_ds, over)
    _fit(pol, cache, 2)
    pol.eval()
    rep = export_package(pol.export_module(instruction="pick it"), pol.contract("pick it"), tmp_path / "pkg",
                         config=ExportConfig(batched=False))  # refuses when ONNX and torch disagree
    assert rep["parity"]["max_abs_diff"] < 1e-4


def test_checkpoints_with_removed_act_options_load_when_they_hold_the_kept_value(tiny_ds, small, tmp_path):
    import json

    from physai.policies import CheckpointError

    pol, cache = _build("act", tiny_ds, small["act"])
    pol.eval().save(tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    doc["config"].update(kl_weight=10.0, aux_weight=1.0, query_point_noise=0.0,
                         aux_keypoint_target="bilinear")
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    batch = cache.batch(torch.arange(3))
    assert torch.equal(load_policy(tmp_path / "old").predict_chunk(batch), pol.predict_chunk(batch))
    doc["config"]["aux_keypoint_target"] = "cell"
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="aux_keypoint_target='cell' was removed"):
        load_policy(tmp_path / "old")
