"""vla with a pretrained instruction encoder read from a local folder (small weights made here)."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from physai.core.errors import ConfigError
from physai.policies import load_policy, make_policy
from physai.policies.text import read_local_encoder, wordpiece
from physai.train.data import build_cache, group_stats, spec_from_dataset
from physai.train.memory import InMemoryDataset, synthetic_episodes

VOCAB = ["[PAD]", "[UNK]", "do", "thing", "0", "1", "stack", "the", "red", "cube", "##s", "push"]


def _encoder_dir(path, fmt="tokenizer.json"):
    path.mkdir()
    g = torch.Generator().manual_seed(0)
    save_file({"embeddings": torch.randn(len(VOCAB), 16, generator=g)}, str(path / "model.safetensors"))
    if fmt == "tokenizer.json":
        doc = {"model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(VOCAB)}}}
        (path / "tokenizer.json").write_text(json.dumps(doc))
    else:
        (path / "vocab.txt").write_text("\n".join(VOCAB))
    return path


def test_wordpiece_and_reader(tmp_path):
    vocab, table = read_local_encoder(_encoder_dir(tmp_path / "enc", fmt="vocab.txt"))
    assert vocab == VOCAB and table.shape == (len(VOCAB), 16)
    ids = {t: i for i, t in enumerate(vocab)}
    assert wordpiece("Stack the red cubes!", ids, 8) == [6, 7, 8, 9, 10, 1]  # cube + ##s, '!' unknown
    assert wordpiece("do thing 0 do thing 1", ids, 3) == [2, 3, 4]


def test_vla_pretrained_text_trains_and_loads_without_the_folder(small, tmp_path):
    enc = _encoder_dir(tmp_path / "enc")
    a = InMemoryDataset(synthetic_episodes(d=5, a=3), robot_type="arm-a", env_task="suite/a")
    cfg = make_policy("vla", [spec_from_dataset(a, _cfg(small))], None, **small["vla"]).config
    cfg = dataclasses.replace(cfg, text_encoder=str(enc))
    spec = spec_from_dataset(a, cfg)
    pol = make_policy("vla", [spec], [group_stats([a])], cfg)
    assert pol.learned == {"text_vocab": VOCAB, "text_dim": 16}  # model state, not user config
    assert not hasattr(pol.config, "text_vocab")
    assert "text.table" not in dict(pol.named_parameters())  # frozen
    cache = build_cache([a], spec, cfg.chunk_size)
    opt = torch.optim.AdamW(pol.parameters(), lr=2e-3)
    torch.manual_seed(0)
    losses = []
    for i in range(120):
        batch = cache.batch(torch.randint(len(cache), (16,), generator=torch.Generator().manual_seed(i)))
        loss, _ = pol([batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 2
    pol.eval()
    st = torch.as_tensor(a.state[:1])
    c0 = pol.predict_chunk({"observation.state": st, "task": ["do thing 0"]})
    c1 = pol.predict_chunk({"observation.state": st, "task": ["stack the red cube"]})
    assert not torch.allclose(c0, c1)
    pol.save(tmp_path / "ckpt")
    shutil.rmtree(enc)  # the checkpoint carries vocabulary and table
    loaded = load_policy(tmp_path / "ckpt")
    assert torch.equal(loaded.predict_chunk({"observation.state": st, "task": ["do thing 0"]}), c0)
    # a checkpoint written when the vocabulary lived in the config loads through the legacy table
    doc = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    doc["config"].update(doc.pop("learned"))
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(doc))
    old = load_policy(tmp_path / "ckpt")
    assert old.learned["text_dim"] == 16
    assert torch.equal(old.predict_chunk({"observation.state": st, "task": ["do thing 0"]}), c0)


def test_bad_encoder_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a local folder"):
        read_local_encoder(tmp_path / "nope")
    (tmp_path / "e").mkdir()
    save_file({"embeddings": torch.zeros(3, 4)}, str(tmp_path / "e" / "model.safetensors"))
    with pytest.raises(ConfigError, match="tokenizer.json or vocab.txt"):
        read_local_encoder(tmp_path / "e")
    (tmp_path / "e" / "vocab.txt").write_text("\n".join(VOCAB))
    with pytest.raises(ConfigError, match="only 3 rows"):
        read_local_encoder(tmp_path / "e")


def _cfg(small):
    from physai.policies import POLICIES, config_replace

    return config_replace(POLICIES.get("vla").config_cls(), small["vla"])
