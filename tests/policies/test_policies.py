"""Policies: overfitting, save/load round trip, export, chunk queue, ensembling, corrupt checkpoints."""

import json

import numpy as np
import pytest
import torch

from physai.core.contract import Execution
from physai.core.execution import ChunkExecutor
from physai.policies import POLICIES, CheckpointError, load_policy, make_policy
from physai.train.data import build_cache, group_stats, spec_from_dataset
from physai.train.memory import InMemoryDataset, synthetic_episodes

POLICY_NAMES = POLICIES.names()  # every registered policy: a new one is tested without editing this file


def test_every_registered_policy_has_a_tiny_test_config(small):
    assert sorted(small) == POLICY_NAMES


def _build(name, ds, overrides):
    cls_cfg = make_policy(name, [spec_from_dataset(ds, _cfg(name, overrides))], None, **overrides).config
    spec = spec_from_dataset(ds, cls_cfg)
    pol = make_policy(name, [spec], [group_stats([ds])], cls_cfg)
    return pol, build_cache([ds], spec, cls_cfg.chunk_size)


def _cfg(name, overrides):
    from physai.policies import POLICIES, config_replace

    return config_replace(POLICIES.get(name).config_cls(), overrides)


def _fit(pol, cache, steps, lr=2e-3, bs=32, metric=None):
    """Train `steps` AdamW steps; the loss per step (or the named `metric` of the loss info)."""
    torch.manual_seed(0)
    opt = torch.optim.AdamW(pol.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        batch = cache.batch(torch.randint(len(cache), (bs,), generator=gen))
        loss, info = pol([batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(info[metric] if metric else float(loss.detach()))
    return losses


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_each_policy_overfits_a_tiny_dataset(name, tiny_ds, small):
    torch.manual_seed(0)
    pol, cache = _build(name, tiny_ds, small[name])
    losses = _fit(pol, cache, 150)
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    assert last < first / 4, (name, first, last)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_save_load_round_trip_gives_identical_actions(name, tiny_ds, small, tmp_path):
    torch.manual_seed(1)
    pol, cache = _build(name, tiny_ds, small[name])
    _fit(pol, cache, 3)
    pol.eval()
    pol.save(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_policy(tmp_path / "ckpt")
    batch = cache.batch(torch.arange(6))
    batch.pop("action")
    a, b = pol.predict_chunk(batch), loaded.predict_chunk(batch)
    assert a.shape == (6, pol.config.chunk_size, 3)
    assert torch.equal(a, b)
    # the env loop: same action sequence from act(); raw normalization lives inside the checkpoint
    obs = [{"state": tiny_ds.state[i], "instruction": "do thing 0"} for i in range(10)]
    pol.reset()
    loaded.reset()
    for o in obs:
        np.testing.assert_array_equal(pol.act(o), loaded.act(o))
    # the export module maps raw inputs to the same raw chunk, deterministically
    exp = loaded.export_module(instruction=batch["task"][0])
    st = torch.as_tensor(tiny_ds.state[:1])
    one = {"observation.state": st, "task": [batch["task"][0]]}
    torch.testing.assert_close(exp(st), loaded.predict_chunk(one))
    c = loaded.contract()
    assert c.state_dim == 5 and c.action_dim == 3 and c.chunk_size == pol.config.chunk_size
    assert c.embodiment == "toy"


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_image_policies_train_save_and_export(name, tiny_img_ds, small, tmp_path):
    torch.manual_seed(0)
    pol, cache = _build(name, tiny_img_ds, small[name])
    assert pol.spec.cameras == ["front"] and pol.spec.image_size == (16, 16)
    _fit(pol, cache, 2)
    pol.eval()
    pol.save(tmp_path / "c")
    loaded = load_policy(tmp_path / "c")
    img = (tiny_img_ds.images["front"][:2]).copy()
    state = torch.as_tensor(tiny_img_ds.state[:2])
    out = loaded.export_module(instruction="do thing 0")(state, torch.as_tensor(img))
    ref = loaded.predict_chunk({"observation.state": state, "task": ["do thing 0"] * 2,
                                "observation.images.front": torch.as_tensor(img).permute(0, 3, 1, 2)})
    torch.testing.assert_close(out, ref)
    a = loaded.act({"state": tiny_img_ds.state[0], "images/front": img[0], "instruction": "do thing 0"})
    assert a.shape == (3,) and a.dtype == np.float32
    assert {"state", "images"} <= set(loaded.env_kwargs()["obs"])


def test_chunk_queue_executes_n_action_steps_then_replans(tiny_ds, small):
    pol, _ = _build("mlp", tiny_ds, {**small["mlp"], "chunk_size": 6, "n_action_steps": 3})
    calls = []
    real = pol.predict_chunk

    def counting(batch, embodiment=None):
        calls.append(1)
        return real(batch)

    pol.predict_chunk = counting
    pol.reset()
    obs = {"state": tiny_ds.state[0]}
    acts = [pol.act(obs) for _ in range(7)]
    assert len(calls) == 3  # steps 0, 3, 6
    chunk = real(pol.obs_to_batch(obs))[0].numpy()
    np.testing.assert_allclose(acts[:3], chunk[:3], rtol=1e-6)
    pol.reset()
    pol.act(obs)
    assert len(calls) == 4  # reset drops the queue

    q = ChunkExecutor(Execution("queue", horizon=2), chunk_size=5)
    assert q.wants(0)
    q.add(0, np.arange(10).reshape(5, 2))
    assert [q.action(t).tolist() for t in range(2)] == [[0, 1], [2, 3]] and q.wants(2)
    assert q.action(4).tolist() == [8, 9] and q.action(5) is None  # a late chunk: run on, then nothing


def test_temporal_ensembler_weights_older_predictions_first():
    ex = ChunkExecutor(Execution("ensemble", horizon=1, ensemble_coef=0.5), chunk_size=3)
    t = iter(range(10))

    class _Ens:
        def step(self, chunk):
            k = next(t)
            assert ex.wants(k)
            ex.add(k, chunk)
            assert not ex.wants(k)
            return ex.action(k)

    ens = _Ens()
    a0 = ens.step(np.array([[0.0], [10.0], [20.0]]))
    assert a0[0] == pytest.approx(0.0)
    a1 = ens.step(np.array([[1.0], [11.0], [21.0]]))  # predictions for t=1: 10 (old), 1 (new)
    w = np.exp(-0.5 * np.arange(2))
    assert a1[0] == pytest.approx((10 * w[0] + 1 * w[1]) / w.sum())
    a2 = ens.step(np.array([[2.0], [12.0], [22.0]]))  # t=2: 20, 11, 2
    w = np.exp(-0.5 * np.arange(3))
    assert a2[0] == pytest.approx((20 * w[0] + 11 * w[1] + 2 * w[2]) / w.sum())
    a3 = ens.step(np.array([[3.0], [13.0], [23.0]]))  # the first chunk has expired: 21, 12, 3
    assert a3[0] == pytest.approx((21 * w[0] + 12 * w[1] + 3 * w[2]) / w.sum())
    ex.reset()
    t = iter(range(10))
    assert ens.step(np.array([[5.0], [6.0], [7.0]]))[0] == pytest.approx(5.0)


def test_act_with_temporal_ensembling_predicts_every_step(tiny_ds, small):
    pol, cache = _build("act", tiny_ds, {**small["act"], "temporal_ensemble": 0.01})
    _fit(pol, cache, 20)  # trained a little, so that chunks predicted on different states differ
    pol.eval()
    chunks = []
    real = pol.predict_chunk

    def recording(batch, embodiment=None):
        chunks.append(real(batch)[0].numpy())
        return real(batch)

    pol.predict_chunk = recording
    pol.reset()
    acts = [pol.act({"state": tiny_ds.state[i]}) for i in range(5)]
    assert len(chunks) == 5  # one chunk per step, not one per n_action_steps
    np.testing.assert_allclose(acts[0], chunks[0][0], rtol=1e-5)
    w = np.exp(-0.01 * np.arange(2))  # step 1 averages the old chunk's 2nd action with the new 1st
    np.testing.assert_allclose(acts[1], (w[0] * chunks[0][1] + w[1] * chunks[1][0]) / w.sum(), rtol=1e-4)
    assert not np.allclose(acts[1], chunks[0][1]) and not np.allclose(acts[1], chunks[1][0])


def test_corrupt_and_foreign_checkpoints_are_refused(tiny_ds, small, tmp_path):
    pol, _ = _build("mlp", tiny_ds, small["mlp"])
    ck = pol.save(tmp_path / "ok")
    load_policy(ck)
    # truncated weights
    bad = tmp_path / "trunc"
    pol.save(bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(bad)
    # a pickle pretending to be weights
    pk = tmp_path / "pickle"
    pol.save(pk)
    torch.save(pol.state_dict(), pk / "model.safetensors")
    with pytest.raises(CheckpointError):
        load_policy(pk)
    # foreign config
    fo = tmp_path / "foreign"
    pol.save(fo)
    (fo / "config.json").write_text(json.dumps({"_name_or_path": "bert", "architectures": ["Bert"]}))
    with pytest.raises(CheckpointError, match="not a physai policy"):
        load_policy(fo)
    # weights of another shape
    other, _ = _build("mlp", tiny_ds, {**small["mlp"], "hidden_dim": 32})
    mix = tmp_path / "mix"
    pol.save(mix)
    other.save(tmp_path / "other")
    (mix / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="shape"):
        load_policy(mix)
    with pytest.raises(CheckpointError, match="not a folder"):
        load_policy(tmp_path / "nothing-here")
    (tmp_path / "ok" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_policy(tmp_path / "ok")


def test_vla_serves_several_embodiments_with_instructions(small, tmp_path):
    a = InMemoryDataset(synthetic_episodes(d=5, a=3), robot_type="arm-a", env_task="suite/a")
    b = InMemoryDataset(synthetic_episodes(d=7, a=2, seed=1), robot_type="arm-b", env_task="suite/b")
    cfg = _cfg("vla", small["vla"])
    specs = [spec_from_dataset(a, cfg), spec_from_dataset(b, cfg)]
    pol = make_policy("vla", specs, [group_stats([a]), group_stats([b])], cfg)
    caches = [build_cache([d], s, cfg.chunk_size) for d, s in zip([a, b], specs, strict=True)]
    opt = torch.optim.AdamW(pol.parameters(), lr=2e-3)
    losses = []
    for i in range(120):
        gen = torch.Generator().manual_seed(i)
        batches = [c.batch(torch.randint(len(c), (16,), generator=gen)) for c in caches]
        loss, _ = pol(batches)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 2
    pol.eval()
    pol.select_embodiment("arm-b")
    assert pol.act({"state": b.state[0], "instruction": "do thing 1"}).shape == (2,)
    pol.select_task("suite/a")
    assert pol.act({"state": a.state[0], "instruction": "do thing 0"}).shape == (3,)
    # the instruction matters: different texts give different chunks
    st = torch.as_tensor(a.state[:1])
    c0 = pol.predict_chunk({"observation.state": st, "task": ["do thing 0"]})
    c1 = pol.predict_chunk({"observation.state": st, "task": ["stack the red cube"]})
    assert not torch.allclose(c0, c1)
    pol.save(tmp_path / "v")
    loaded = load_policy(tmp_path / "v")
    loaded.select_task("suite/b")
    assert loaded.contract().embodiment == "arm-b"
    with pytest.raises(Exception, match="arm-c"):
        loaded.select_embodiment("arm-c")


def test_flow_transformer_backbone_overfits(tiny_ds, small):
    torch.manual_seed(0)
    pol, cache = _build("flow", tiny_ds, {**small["flow"], "backbone": "transformer"})
    losses = _fit(pol, cache, 150)
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) / 4


def test_vla_checkpoint_from_before_state_skip_loads_without_it(tiny_ds, small, tmp_path):
    import json

    pol, cache = _build("vla", tiny_ds, {**small["vla"], "state_skip": False})
    pol.eval().save(tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    doc["config"].pop("state_skip")  # written before the option existed
    (tmp_path / "old" / "config.json").write_text(json.dumps(doc))
    old = load_policy(tmp_path / "old")
    assert old.config.state_skip is False and old.state_skip is None
    batch = {**cache.batch(torch.arange(3)), "deterministic": True}
    assert torch.equal(old.predict_chunk(batch), pol.predict_chunk(batch))
    new, _ = _build("vla", tiny_ds, small["vla"])
    assert new.config.state_skip and len(new.state_skip) == 1  # the default conditions the head on the state


def test_vla_text_dropout_hides_the_instruction_in_training_only(tiny_ds, small):
    from physai.core.errors import ConfigError

    pol, cache = _build("vla", tiny_ds, {**small["vla"], "text_dropout": 0.999})
    batch = cache.batch(torch.arange(16))
    losses = []
    for text in ("do thing 0", "stack the red cube"):
        torch.manual_seed(0)
        losses.append(float(pol.train()([{**batch, "task": [text] * 16}])[0].detach()))
    assert losses[0] == losses[1]  # every instruction token was dropped
    pol.eval()
    st = batch["observation.state"][:1]
    c0 = pol.predict_chunk({"observation.state": st, "task": ["do thing 0"]})
    c1 = pol.predict_chunk({"observation.state": st, "task": ["stack the red cube"]})
    assert not torch.allclose(c0, c1)  # at inference the instruction is read
    with pytest.raises(ConfigError, match="text_dropout"):
        _build("vla", tiny_ds, {**small["vla"], "text_dropout": 1.0})
