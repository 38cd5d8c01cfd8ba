"""Property tests for window indexing (delta_timestamps) and multi-dataset batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import make_dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from physai.core.errors import ConfigError
from physai.data import Dataset, MultiDataset


@pytest.fixture(scope="module")
def state_ds(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("w") / "ds"
    return root, make_dataset(root, [5, 1, 8, 3], video=False)


@settings(max_examples=60, deadline=None)
@given(idx=st.integers(0, 16), offsets=st.lists(st.integers(-6, 6), min_size=1, max_size=6))
def test_window_values_and_pads(state_ds, idx, offsets):
    root, w = state_ds
    ds = Dataset(
        root, delta_timestamps={"action": [o / 10 for o in offsets], "observation.state": [-0.1, 0.0]}
    )
    bounds = np.cumsum([0, 5, 1, 8, 3])
    ep = int(np.searchsorted(bounds, idx, side="right") - 1)
    lo, hi = bounds[ep], bounds[ep + 1]
    it = ds[idx]
    assert it["action"].shape == (len(offsets), 2) and it["action_is_pad"].shape == (len(offsets),)
    for j, o in enumerate(offsets):
        t = idx + o
        assert bool(it["action_is_pad"][j]) == (not lo <= t < hi)
        np.testing.assert_array_equal(it["action"][j].numpy(), w["action"][min(max(t, lo), hi - 1)])
    assert it["observation.state"].shape == (2, 3)
    assert bool(it["observation.state_is_pad"][0]) == (idx == lo)
    batch = ds.get_batch([idx])
    torch.testing.assert_close(batch["action"][0], it["action"])
    assert torch.equal(batch["action_is_pad"][0], it["action_is_pad"])


def test_deltas_must_be_frame_multiples(state_ds):
    with pytest.raises(ConfigError, match="multiples of 1/fps"):
        Dataset(state_ds[0], delta_timestamps={"action": [0.0, 0.033]})
    with pytest.raises(ConfigError, match="not a feature"):
        Dataset(state_ds[0], delta_timestamps={"nope": [0.0]})


def test_dataloader_with_workers_matches(state_ds):
    ds = Dataset(state_ds[0], delta_timestamps={"action": [0, 0.1, 0.2]})
    dl = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2, multiprocessing_context="spawn")
    got = torch.cat([b["action"] for b in dl])
    want = torch.stack([ds[i]["action"] for i in range(len(ds))])
    torch.testing.assert_close(got, want)


def test_multi_dataset_pads_and_masks(tmp_path, state_ds):
    other = tmp_path / "other"
    make_dataset(other, [4, 4], video=False, state_dim=5, action_dim=4, seed=3)
    md = MultiDataset([state_ds[0], other], delta_timestamps={"action": [0, 0.1]})
    assert len(md) == 17 + 8 and len(md.stats) == 2
    dl = torch.utils.data.DataLoader(md, batch_size=25, shuffle=False)
    b = next(iter(dl))
    assert b["observation.state"].shape == (25, 5) and b["action"].shape == (25, 2, 4)
    assert b["dataset_index"].tolist() == [0] * 17 + [1] * 8
    assert b["action_dim_mask"][0].tolist() == [True, True, False, False]
    assert b["action_dim_mask"][-1].all()
    assert (b["action"][:17, :, 2:] == 0).all()
    assert b["embodiment"][0] == "toy"


def test_multi_dataset_with_and_without_cameras(tmp_path, state_ds):
    cams = tmp_path / "cams"
    make_dataset(cams, [3, 2], video=True, seed=5)
    md = MultiDataset([state_ds[0], cams])
    b = next(iter(torch.utils.data.DataLoader(md, batch_size=len(md))))
    img = b["observation.images.cam"]
    assert img.shape == (22, 3, 32, 32)
    assert b["observation.images.cam_mask"].tolist() == [False] * 17 + [True] * 5
    assert img[:17].abs().sum() == 0 and img[17:].abs().sum() > 0
