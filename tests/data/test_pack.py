"""Packing: episodes copied out of packed (multi-episode) files keep their exact frames and values."""

import numpy as np
from data_helpers import decode_image, make_dataset

from physai.data import Dataset
from physai.data.tools import copy_episodes, merge


def test_copy_episodes_out_of_packed_files_keeps_frames(tmp_path):
    lengths = [5, 7, 6, 4]
    written = make_dataset(tmp_path / "src", lengths)
    merge([tmp_path / "src"], tmp_path / "packed")  # one data file and one mp4 for all episodes
    assert len(list((tmp_path / "packed" / "videos").rglob("*.mp4"))) == 1
    # episodes picked out of the middle of the packed file, out of order: the packer seeks to each
    copy_episodes([(tmp_path / "packed", [2, 0, 3])], tmp_path / "picked")
    ds = Dataset(tmp_path / "picked")
    starts = np.concatenate([[0], np.cumsum(lengths)])
    expect = np.concatenate([np.arange(starts[e], starts[e + 1]) for e in (2, 0, 3)])
    assert len(ds) == len(expect)
    for i, src_row in enumerate(expect):
        item = ds[i]
        assert decode_image(item["observation.images.cam"].numpy()) == written["image_id"][src_row]
        state = written["observation.state"][src_row]
        np.testing.assert_array_equal(item["observation.state"].numpy(), state)
